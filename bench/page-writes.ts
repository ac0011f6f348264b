/**
 * Page writes per durable PUT, by server, counted by the kernel: `perf stat` on each server's
 * process counts its `pwrite64` calls (LMDB writes each dirty page of a commit with one) and its
 * `fdatasync` calls (one per commit in `sync` mode) during a PUT load, divided by the PUTs
 * served. Unlike throughput on this shared machine, these counts repeat run to run, so they
 * show what a storage layout change does to a commit (docs/performance.md, "Eighth session").
 *
 *   node --import tsx bench/page-writes.ts                       # bare and this tree
 *   PW_SERVERS=bare,/tmp/gossamer-old,. node --import tsx bench/page-writes.ts
 *
 * Each server is preloaded with BENCH_KEYS keys in order (as `bench:single` does), then measured
 * PW_ROUNDS times for BENCH_DURATION_S seconds of 50-connection PUTs on random keys. Needs
 * `perf` (Debian: linux-perf) and permission to trace (root).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { loadPuts, machine, type Server, startNamedServer, stopServer } from './lib.ts'

const specs = (process.env.PW_SERVERS ?? 'bare,.').split(',')
const keyCount = Number(process.env.BENCH_KEYS ?? 100_000)
const durationSec = Number(process.env.BENCH_DURATION_S ?? 8)
const rounds = Number(process.env.PW_ROUNDS ?? 2)
const value = Buffer.alloc(100, 'v')
const EVENTS = ['pwrite64', 'fdatasync'].map((name) => `syscalls:sys_enter_${name}`)

async function counted(server: Server): Promise<{ puts: number; counts: Map<string, number> }> {
  const perf = spawn(
    'perf',
    ['stat', '-x,', '-e', EVENTS.join(','), '-p', String(server.child.pid)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let report = ''
  perf.stderr.on('data', (chunk: Buffer) => {
    report += chunk.toString()
  })
  const exited = new Promise<void>((done) => perf.on('exit', () => done()))
  try {
    await new Promise((done) => setTimeout(done, 300)) // perf attaches
    const result = await loadPuts(server, { connections: 50, keyCount, value, durationSec })
    const counts = new Map<string, number>()
    perf.kill('SIGINT')
    await exited
    for (const line of report.trim().split('\n')) {
      const fields = line.split(',')
      if (fields[2]?.startsWith('syscalls:sys_enter_')) {
        counts.set(fields[2].slice('syscalls:sys_enter_'.length), Number(fields[0]))
      }
    }
    return { puts: result.opsPerSec * durationSec, counts }
  } finally {
    if (perf.exitCode === null) perf.kill('SIGKILL')
  }
}

const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-page-writes-'))
const servers: Server[] = []
try {
  for (const [i, spec] of specs.entries()) {
    const server = await startNamedServer(spec, join(tmp, `server-${i}`))
    servers.push(server)
    await loadPuts(server, { connections: 50, keyCount, value, amount: keyCount, sequential: true })
  }
  console.log(`page writes per PUT — ${new Date().toISOString()}; ${machine()}`)
  console.log(`${keyCount} keys preloaded in order, ${rounds} rounds of ${durationSec} s of PUTs`)
  for (let round = 1; round <= rounds; round++) {
    for (const server of servers) {
      const { puts, counts } = await counted(server)
      const pwrites = counts.get('pwrite64') ?? Number.NaN
      const syncs = counts.get('fdatasync') ?? Number.NaN
      console.log(
        `round ${round} ${server.name}: ${(puts / durationSec).toFixed(0)} PUT/s, ` +
          `${(pwrites / puts).toFixed(3)} pwrite64 per PUT, ${(puts / syncs).toFixed(1)} PUTs ` +
          `per fdatasync, ${(pwrites / syncs).toFixed(1)} pages per commit`,
      )
    }
  }
} finally {
  for (const server of servers) await stopServer(server)
  rmSync(tmp, { recursive: true, force: true })
}
