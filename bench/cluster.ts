/**
 * Cluster benchmark (issue 4): a 3-node Gossamer cluster on loopback with N=3, `PUT /v1/kv` at
 * w=quorum and `GET /v1/kv` at r=quorum, next to a single node in the same run on the same
 * machine. Not a test: numbers go to `bench/results/<date>-cluster.md` with the command.
 *
 *   npm run bench:cluster           # defaults: 50 connections, 100-byte values, 20k keys
 *   BENCH_DURATION_S=10 BENCH_RUNS=3 BENCH_KEYS=20000 npm run bench:cluster
 *
 * Three configurations, each its own processes and temp data dirs:
 * - `single`: one agent (a cluster of one: quorum = 1 copy);
 * - `cluster, one coordinator`: all 50 connections to node 1, which coordinates every request
 *   (each PUT waits for 2 of 3 durable replica writes, each GET for 2 of 3 replica reads);
 * - `cluster, spread`: the 50 connections split over the three nodes (17/17/16), three load
 *   generators at once; ops/s is their sum, latency percentiles the worst of the three.
 * All are preloaded with the same keys, warmed up, then measured in alternating runs so drift on
 * this shared machine hits them alike. Medians with min–max.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import {
  keyIndex,
  load,
  machine,
  median,
  type RunResult,
  type Server,
  startServer,
  stopServer,
} from './lib.ts'

const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const keyCount = Number(process.env.BENCH_KEYS ?? 20_000)
const durationSec = Number(process.env.BENCH_DURATION_S ?? 10)
const runs = Number(process.env.BENCH_RUNS ?? 3)
const warmupSec = Number(process.env.BENCH_WARMUP_S ?? 3)
const value = Buffer.alloc(100, 'v')
const putPath = (i: number) => `/v1/kv/bench-${String(i).padStart(6, '0')}?w=quorum`
const getPath = (i: number) => `/v1/kv/bench-${String(i).padStart(6, '0')}?r=quorum`

const loadBefore = os.loadavg()
const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-bench-cluster-'))
const servers: Server[] = []

function agentArgs(name: string, extra: string[]): string[] {
  return [
    'packages/gossamer/bin/gossamer.js',
    'agent',
    ...['--name', name, '--data-dir', join(tmp, name), '--log-level', 'warn'],
    ...['--http-port', '0', '--gossip-port', '0', '--rpc-port', '0', '--advertise', '127.0.0.1'],
    ...['--gossip-preset', 'local'],
    ...extra,
  ]
}

/** Polls a node's member list until `count` members are alive (bounded). */
async function waitJoined(server: Server, count: number): Promise<void> {
  const until = Date.now() + 60_000
  while (Date.now() < until) {
    try {
      const response = await fetch(`${server.http}/v1/cluster/members`)
      const body = (await response.json()) as { members?: { state?: string }[] }
      if ((body.members?.filter((m) => m.state === 'alive').length ?? 0) >= count) return
    } catch {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`cluster did not form: ${count} members not alive within 60 s`)
}

/** Polls every node's /v1/ready until all answer 200: joiners stream their partitions first. */
async function waitReady(nodes: readonly Server[]): Promise<void> {
  const until = Date.now() + 600_000
  while (Date.now() < until) {
    const ready = await Promise.all(
      nodes.map((s) =>
        fetch(`${s.http}/v1/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      ),
    )
    if (ready.every(Boolean)) return
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error('cluster nodes not ready within 600 s')
}

/** One measured configuration: the HTTP targets and the connections each gets. */
interface Target {
  readonly name: string
  readonly setting: string
  readonly urls: readonly { url: string; connections: number }[]
  readonly pids: number[]
}

/** Runs `op` against every URL of the target at once and merges the results. */
async function measure(
  target: Target,
  op: 'GET' | 'PUT',
  opts: { durationSec?: number; amount?: number; sequential?: boolean },
): Promise<RunResult> {
  const results = await Promise.all(
    target.urls.map(({ url, connections: c }, slot) =>
      load({
        url,
        connections: c,
        method: op,
        ...(op === 'PUT'
          ? { body: value, headers: { 'content-type': 'application/octet-stream' } }
          : {}),
        ...(opts.amount !== undefined
          ? { amount: Math.ceil(opts.amount / target.urls.length) }
          : { durationSec: opts.durationSec ?? durationSec }),
        path: (n) => {
          const i = opts.sequential
            ? (n * target.urls.length + slot) % keyCount
            : keyIndex(n * target.urls.length + slot, keyCount)
          return op === 'PUT' ? putPath(i) : getPath(i)
        },
        serverPids: slot === 0 ? target.pids : [],
      }),
    ),
  )
  return {
    opsPerSec: results.reduce((sum, r) => sum + r.opsPerSec, 0),
    p50Ms: Math.max(...results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    p999Ms: Math.max(...results.map((r) => r.p999Ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    serverCpuSec: results[0]!.serverCpuSec,
  }
}

try {
  const single = await startServer('single', agentArgs('single', []))
  servers.push(single)
  const n1 = await startServer('n1', agentArgs('n1', ['--replicas', '3']))
  servers.push(n1)
  const seed = String(n1.info.gossip)
  const rest = await Promise.all(
    ['n2', 'n3'].map((name) =>
      startServer(name, agentArgs(name, ['--replicas', '3', '--join', seed])),
    ),
  )
  servers.push(...rest)
  const cluster = [n1, ...rest]
  await waitJoined(n1, 3)
  const formingSince = Date.now()
  await waitReady(cluster)
  console.error(`cluster joined; every node ready after ${Date.now() - formingSince} ms more`)
  const clusterPids = cluster.map((s) => s.child.pid!)
  const split = (i: number) => Math.floor(connections / 3) + (i < connections % 3 ? 1 : 0)
  const targets: Target[] = [
    {
      name: 'single',
      setting: '1 node',
      urls: [{ url: single.http, connections }],
      pids: [single.child.pid!],
    },
    {
      name: 'one-coordinator',
      setting: '3 nodes, N=3, all connections to node 1',
      urls: [{ url: n1.http, connections }],
      pids: clusterPids,
    },
    {
      name: 'spread',
      setting: '3 nodes, N=3, connections spread over the nodes',
      urls: cluster.map((s, i) => ({ url: s.http, connections: split(i) })),
      pids: clusterPids,
    },
  ]

  // Preload: the single node and the cluster once each (the cluster's two targets share data).
  for (const target of [targets[0]!, targets[1]!]) {
    const pre = await measure(target, 'PUT', { amount: keyCount, sequential: true })
    console.error(
      `${target.name}: preloaded ${keyCount} keys at ${pre.opsPerSec.toFixed(0)} ops/s (errors ${pre.errors}, non-2xx ${pre.non2xx})`,
    )
  }
  for (const target of targets) {
    await measure(target, 'GET', { durationSec: warmupSec })
    await measure(target, 'PUT', { durationSec: warmupSec })
  }

  const results = new Map<string, Record<'GET' | 'PUT', RunResult[]>>(
    targets.map((t) => [t.name, { GET: [], PUT: [] }]),
  )
  for (let run = 0; run < runs; run++) {
    for (const op of ['GET', 'PUT'] as const) {
      for (const target of run % 2 === 0 ? targets : [...targets].reverse()) {
        const r = await measure(target, op, { durationSec })
        results.get(target.name)![op].push(r)
        console.error(
          `run ${run + 1} ${op} ${target.name}: ${r.opsPerSec.toFixed(0)} ops/s p50 ${r.p50Ms}ms p99 ${r.p99Ms}ms errors ${r.errors} non-2xx ${r.non2xx}`,
        )
      }
    }
  }

  const row = (target: Target, op: 'GET' | 'PUT') => {
    const rs = results.get(target.name)![op]
    const ops = rs.map((r) => r.opsPerSec)
    const cpu = rs.map((r) => r.serverCpuSec / durationSec)
    const label = op === 'GET' ? 'GET /v1/kv?r=quorum' : 'PUT /v1/kv?w=quorum'
    return `| ${target.setting} | ${label} | ${median(ops).toFixed(0)} (${Math.min(...ops).toFixed(0)}–${Math.max(...ops).toFixed(0)}) | ${median(rs.map((r) => r.p50Ms))} | ${median(rs.map((r) => r.p99Ms))} | ${median(cpu).toFixed(2)} | ${rs.reduce((a, r) => a + r.errors + r.non2xx, 0)} |`
  }
  const date = new Date().toISOString()
  const report = [
    `# Cluster benchmark — ${date}`,
    '',
    `Command: \`BENCH_DURATION_S=${durationSec} BENCH_RUNS=${runs} BENCH_KEYS=${keyCount} npm run bench:cluster\``,
    `Machine: ${machine()}; load average ${loadBefore.map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) before the run, ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} after it (other work on the machine competes with the servers).`,
    `Workload: ${connections} connections, 100-byte values, ${keyCount} keys preloaded, ${warmupSec}s warm-up, ${runs} alternating runs of ${durationSec}s per configuration; load generator autocannon in the parent process, on the same cores as the servers. Durability: the default (sync) on every node; gossip preset local; everything on loopback.`,
    '"spread": three autocannon instances at once; ops/s summed, p50/p99 the worst of the three. Server CPU is the sum over the configuration\'s server processes.',
    '',
    '| configuration | operation | ops/s median (min–max) | p50 ms | p99 ms | server CPU (cores) | errors |',
    '|---|---|---|---|---|---|---|',
    ...targets.flatMap((t) => [row(t, 'GET'), row(t, 'PUT')]),
    '',
  ].join('\n')
  const file = join('bench', 'results', `${date.slice(0, 10)}-cluster.md`)
  writeFileSync(file, report)
  process.stdout.write(report)
  console.error(`written ${file}`)
} finally {
  for (const s of servers) await stopServer(s).catch(() => {})
  rmSync(tmp, { recursive: true, force: true })
}
