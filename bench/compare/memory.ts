/**
 * Memory of a Gossamer node holding many keys (issue 6: "a node holding 1M keys of 100 bytes
 * stays under a documented RSS; report bytes per key"). Starts one agent on a temp dir, measures
 * its resident memory empty, loads the keys over HTTP (`PUT /v1/kv`, 50 connections), measures
 * again, reads every key once (so the hot data is mapped in, as on a serving node) and measures a
 * third time. RSS is split into anonymous memory (JS heap, buffers, LMDB's own allocations) and
 * file-backed pages (the LMDB map; the kernel may reclaim these under pressure).
 *
 *   npm run bench:memory                           # 50k keys (quick)
 *   MEMORY_KEYS=1000000 npm run bench:memory       # the 1M keys (several minutes)
 *
 * MEMORY_DURABILITY (relaxed): the load uses `relaxed` durability by default so that a million
 * writes take minutes, not a quarter of an hour of fsyncs; memory does not depend on it. Output:
 * bench/results/<date>-compare-memory.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { loadRequests, machine, residentBytes, startServer } from '../lib.ts'
import { runCommand, stop, stopAll, track } from './processes.ts'
import { gossamerVariant } from './workload.ts'

const keyCount = Number(process.env.MEMORY_KEYS ?? 50_000)
const durability = process.env.MEMORY_DURABILITY ?? 'relaxed'
const connections = 50
const MiB = 2 ** 20

const log = (line: string) => process.stderr.write(`[memory] ${line}\n`)
const settle = () => new Promise((resolve) => setTimeout(resolve, 2_000))
const mib = (bytes: number) => (bytes / MiB).toFixed(1)

async function diskBytes(dir: string): Promise<number> {
  const { stdout } = await runCommand('du', ['-sb', dir], { timeoutMs: 60_000 })
  return Number(stdout.split(/\s+/)[0])
}

const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-memory-'))
try {
  const dataDir = join(tmp, 'node')
  const args = [
    'packages/gossamer/bin/gossamer.js',
    'agent',
    ...['--name', 'memory', '--http-port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
  ]
  process.env.GOSSAMER_DURABILITY = durability
  const server = await startServer('memory', args)
  const proc = track('memory', server.child)
  const variant = gossamerVariant({ setting: '', operations: [] })
  await settle()
  const empty = residentBytes(proc.pid)
  log(`empty: RSS ${mib(empty.rss)} MiB`)

  const started = Date.now()
  const put = await loadRequests({
    url: server.http,
    connections,
    amount: keyCount + 2 * connections,
    request: (n) => variant.put(n % keyCount),
    serverPids: [proc.pid],
  })
  const loadSec = (Date.now() - started) / 1000
  log(
    `loaded ${keyCount} keys in ${loadSec.toFixed(0)} s (${put.opsPerSec.toFixed(0)} ops/s, errors ${put.errors + put.non2xx})`,
  )
  await settle()
  const loaded = residentBytes(proc.pid)

  const get = await loadRequests({
    url: server.http,
    connections,
    amount: keyCount,
    request: (n) => variant.get(n % keyCount),
    serverPids: [proc.pid],
  })
  log(`read every key once (${get.opsPerSec.toFixed(0)} ops/s, errors ${get.errors + get.non2xx})`)
  await settle()
  const warm = residentBytes(proc.pid)
  await stop(proc)
  const disk = await diskBytes(dataDir)

  const row = (what: string, m: { rss: number; anon: number; file: number }) =>
    `| ${what} | ${mib(m.rss)} | ${mib(m.anon)} | ${mib(m.file)} | ${((m.rss - empty.rss) / keyCount).toFixed(0)} | ${((m.anon - empty.anon) / keyCount).toFixed(0)} |`
  const date = new Date().toISOString()
  const report = [
    `# Gossamer node memory — ${date}`,
    '',
    `Command: \`MEMORY_KEYS=${keyCount} MEMORY_DURABILITY=${durability} npm run bench:memory\``,
    `Machine: ${machine()}`,
    `One agent (LMDB, durability ${durability} during the load), ${keyCount} keys \`bench-NNNNNN\` with 100-byte values written by ${connections} HTTP connections; RSS from /proc/<pid>/status 2 s after each phase.`,
    '',
    '| phase | RSS MiB | anonymous MiB | file-backed MiB | RSS bytes/key over empty | anonymous bytes/key over empty |',
    '|---|---|---|---|---|---|',
    row('empty node', empty),
    row(`after writing ${keyCount} keys`, loaded),
    row('after reading every key once', warm),
    '',
    `Data directory on disk: ${mib(disk)} MiB (${(disk / keyCount).toFixed(0)} bytes/key; raw payload 100-byte value + 12-byte key).`,
    '',
  ].join('\n')
  const file = join('bench', 'results', `${date.slice(0, 10)}-compare-memory.md`)
  writeFileSync(file, report)
  process.stdout.write(report)
  log(`written ${file}`)
} finally {
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
}
