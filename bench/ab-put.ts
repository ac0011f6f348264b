/**
 * Same-run A/B of durable PUT throughput: several servers started side by side (the bare
 * Fastify + LMDB handler, and Gossamer from any number of source trees, e.g. a worktree of an
 * older commit), each preloaded, then measured in rounds of short PUT runs whose order
 * alternates, so that drift on this shared machine hits every server alike. For each round it
 * reports every server's ops/s relative to the first one's, and the medians over the rounds.
 *
 *   git worktree add /tmp/gossamer-old <commit>   # then symlink node_modules into it
 *   AB_SERVERS=bare,/tmp/gossamer-old,. node --import tsx bench/ab-put.ts
 *
 * Knobs (environment): AB_SERVERS (comma-separated: `bare`, or a Gossamer source tree),
 * BENCH_KEYS (default 100000), BENCH_RUNS (rounds, default 10), BENCH_DURATION_S (per run,
 * default 5), BENCH_CONNECTIONS (default 50).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { loadPuts, machine, median, type Server, startNamedServer, stopServer } from './lib.ts'

const specs = (process.env.AB_SERVERS ?? 'bare,.').split(',')
const keyCount = Number(process.env.BENCH_KEYS ?? 100_000)
const rounds = Number(process.env.BENCH_RUNS ?? 10)
const durationSec = Number(process.env.BENCH_DURATION_S ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const value = Buffer.alloc(100, 'v')

const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-ab-'))
const servers: Server[] = []
try {
  for (const [i, spec] of specs.entries()) {
    servers.push(await startNamedServer(spec, join(tmp, `server-${i}`)))
  }
  const put = (s: Server, opts: { amount?: number; durationSec?: number; sequential?: boolean }) =>
    loadPuts(s, { connections, keyCount, value, ...opts })
  for (const s of servers) {
    await put(s, { amount: keyCount, sequential: true })
    await put(s, { durationSec: 3 })
  }
  const ops = servers.map(() => [] as number[])
  const cpuUs = servers.map(() => [] as number[])
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => i)
    if (round % 2 === 1) order.reverse()
    for (const i of order) {
      const r = await put(servers[i]!, { durationSec })
      ops[i]!.push(r.opsPerSec)
      cpuUs[i]!.push((1e6 * r.serverCpuSec) / Math.max(1, r.opsPerSec * durationSec))
    }
  }
  const lines = [
    `A/B PUT — ${new Date().toISOString()}; ${machine()}`,
    `${connections} connections, 100-byte values, ${keyCount} keys, ${rounds} rounds of ${durationSec} s`,
  ]
  servers.forEach((s, i) => {
    const ratios = ops[i]!.map((o, round) => o / ops[0]![round]!)
    lines.push(
      `${s.name}: ops/s median ${median(ops[i]!).toFixed(0)}, CPU µs/PUT median ${median(cpuUs[i]!).toFixed(1)}, ` +
        `per-round ratio to ${servers[0]!.name} median ${median(ratios).toFixed(2)} [${ratios.map((r) => r.toFixed(2)).join(' ')}]`,
    )
  })
  process.stdout.write(`${lines.join('\n')}\n`)
} finally {
  for (const s of servers) await stopServer(s).catch(() => {})
  rmSync(tmp, { recursive: true, force: true })
}
