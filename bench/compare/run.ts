/**
 * The comparison harness of issue 6: Gossamer (one node; three nodes at N=3) against etcd (one
 * member; three members) through their HTTP APIs, and Redis as the single-node speed reference —
 * on this machine, in one run, with the same workload.
 *
 *   npm run bench:compare                         # 50 connections, 100k keys, 3 × 10 s runs
 *   BENCH_KEYS=5000 BENCH_DURATION_S=2 BENCH_RUNS=1 BENCH_WARMUP_S=1 npm run bench:compare
 *   BENCH_SYSTEMS=gossamer-cluster,etcd-cluster npm run bench:compare
 *
 * Environment: BENCH_CONNECTIONS (50), BENCH_KEYS (100000), BENCH_DURATION_S (10), BENCH_RUNS (3),
 * BENCH_WARMUP_S (3), BENCH_SYSTEMS (gossamer-single,gossamer-cluster,etcd-single,etcd-cluster,
 * redis), BENCH_OPERATIONS (PUT,GET,MIX), BENCH_NO_INSTALL=1 (never apt-get),
 * BENCH_CLUSTER_READY_S (300: how long the Gossamer cluster may take to finish its initial handoffs),
 * BENCH_GOSSAMER_PARTITIONS (the agent default, 4096).
 *
 * One system at a time is started (data in a fresh temp dir, loopback only), preloaded with every
 * key, checked, warmed up, measured, and stopped by PID before the next starts, so no idle server
 * shares the two cores with the one measured. Each timed run is repeated; the report gives medians
 * with min–max. Output: bench/results/<date>-compare.md and <date>-compare.svg.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { loadRequests, machine, type RequestSpec, type RunResult } from '../lib.ts'
import { ensurePeers, versionOf } from './install.ts'
import { fetchWithin, runCommand, stopAll } from './processes.ts'
import { preloadRedis, type RedisTarget, redisKeyCount, runRedis } from './redis.ts'
import { markdownTable, type Row, summarize, svgChart } from './report.ts'
import {
  type Deployment,
  startEtcd,
  startGossamerCluster,
  startGossamerSingle,
  startRedis,
} from './systems.ts'
import {
  etcdVariant,
  gossamerVariant,
  type HttpVariant,
  keyName,
  type Operation,
  requestsFor,
} from './workload.ts'

const env = process.env
const config = {
  connections: Number(env.BENCH_CONNECTIONS ?? 50),
  keyCount: Number(env.BENCH_KEYS ?? 100_000),
  durationSec: Number(env.BENCH_DURATION_S ?? 10),
  runs: Number(env.BENCH_RUNS ?? 3),
  warmupSec: Number(env.BENCH_WARMUP_S ?? 3),
  systems: (env.BENCH_SYSTEMS ?? 'gossamer-single,gossamer-cluster,etcd-single,etcd-cluster,redis')
    .split(',')
    .map((s) => s.trim()),
  operations: (env.BENCH_OPERATIONS ?? 'PUT,GET,MIX')
    .split(',')
    .map((s) => s.trim().toUpperCase()) as Operation[],
}

const log = (line: string) => process.stderr.write(`[compare] ${line}\n`)

/** An HTTP system: how to start it, its settings, and how to check that a key is stored. */
interface HttpSystem {
  readonly id: string
  readonly label: string
  readonly start: (dir: string) => Promise<Deployment>
  readonly variants: readonly HttpVariant[]
  readonly isStored: (url: string, i: number) => Promise<boolean>
}

const gossamerStored = async (url: string, i: number) =>
  (await fetchWithin(`${url}/v1/kv/${keyName(i)}`)).status === 200

const etcdStored = async (url: string, i: number) => {
  const body = JSON.stringify({ key: Buffer.from(keyName(i)).toString('base64') })
  const response = await fetchWithin(`${url}/v3/kv/range`, { method: 'POST', body })
  return ((await response.json()) as { count?: string }).count === '1'
}

const ALL: readonly Operation[] = ['PUT', 'GET', 'MIX']
const READS: readonly Operation[] = ['GET', 'MIX']

const HTTP_SYSTEMS: readonly HttpSystem[] = [
  {
    id: 'gossamer-single',
    label: 'gossamer 1 node',
    start: startGossamerSingle,
    variants: [gossamerVariant({ setting: 'sync (fsync per commit)', operations: ALL })],
    isStored: gossamerStored,
  },
  {
    id: 'gossamer-cluster',
    label: 'gossamer 3 nodes',
    start: startGossamerCluster,
    variants: [
      gossamerVariant({
        setting: 'N=3, w=quorum, r=quorum, sync',
        operations: ALL,
        w: 'quorum',
        r: 'quorum',
      }),
      gossamerVariant({
        setting: 'N=3, w=quorum, r=one, sync',
        operations: READS,
        w: 'quorum',
        r: 'one',
      }),
    ],
    isStored: gossamerStored,
  },
  {
    id: 'etcd-single',
    label: 'etcd 1 member',
    start: (dir) => startEtcd(dir, 1),
    variants: [
      etcdVariant({
        setting: 'linearizable range, WAL fsync',
        operations: ALL,
        serializable: false,
      }),
      etcdVariant({ setting: 'serializable range', operations: READS, serializable: true }),
    ],
    isStored: etcdStored,
  },
  {
    id: 'etcd-cluster',
    label: 'etcd 3 members',
    start: (dir) => startEtcd(dir, 3),
    variants: [
      etcdVariant({ setting: 'Raft, linearizable range', operations: ALL, serializable: false }),
      etcdVariant({ setting: 'Raft, serializable range', operations: READS, serializable: true }),
    ],
    isStored: etcdStored,
  },
]

type Measured = RunResult & { elapsedSec: number }

async function timed(run: () => Promise<RunResult>): Promise<Measured> {
  const started = process.hrtime.bigint()
  const result = await run()
  return { ...result, elapsedSec: Number(process.hrtime.bigint() - started) / 1e9 }
}

const describe = (label: string, setting: string, op: Operation, r: RunResult) =>
  `${label} [${setting}] ${op}: ${r.opsPerSec.toFixed(0)} ops/s p50 ${r.p50Ms}ms p99 ${r.p99Ms}ms p99.9 ${r.p999Ms}ms errors ${r.errors} non-2xx ${r.non2xx}`

/** Preloads, checks, warms up and measures one HTTP system; returns its rows. */
async function measureHttp(system: HttpSystem, deployment: Deployment): Promise<Row[]> {
  const { connections, keyCount, durationSec, warmupSec, runs } = config
  const urls = deployment.urls
  const load = (request: (n: number) => RequestSpec, opts: object) =>
    timed(() =>
      loadRequests({ url: urls, connections, request, serverPids: deployment.pids, ...opts }),
    )
  const first = system.variants[0]!
  // Sequential preload; a few extra requests wrap around so that no key at the end is missed.
  const pre = await load((n) => first.put(n % keyCount), { amount: keyCount + 2 * connections })
  log(
    `${system.label}: preloaded ${keyCount} keys at ${pre.opsPerSec.toFixed(0)} ops/s (errors ${pre.errors}, non-2xx ${pre.non2xx})`,
  )
  const samples = [
    0,
    keyCount - 1,
    ...Array.from({ length: 18 }, (_, k) => Math.floor((k * keyCount) / 18)),
  ]
  for (const [k, i] of samples.entries()) {
    if (!(await system.isStored(urls[k % urls.length]!, i))) {
      throw new Error(`${system.label}: key ${keyName(i)} missing after the preload`)
    }
  }
  for (const op of ['GET', 'PUT'] as const) {
    await load(requestsFor(first, op, keyCount), { durationSec: warmupSec })
  }
  const rows = new Map<string, Row>()
  const plan = system.variants.flatMap((variant) =>
    variant.operations
      .filter((op) => config.operations.includes(op))
      .map((op) => ({ variant, op })),
  )
  for (let run = 0; run < runs; run++) {
    for (const { variant, op } of run % 2 === 0 ? plan : [...plan].reverse()) {
      const result = await load(requestsFor(variant, op, keyCount), { durationSec })
      log(`run ${run + 1}/${runs} ${describe(system.label, variant.setting, op, result)}`)
      const key = `${variant.setting}|${op}`
      const row = rows.get(key) ?? {
        system: system.label,
        setting: variant.setting,
        operation: op,
        loadGenerator: 'autocannon' as const,
        runs: [],
      }
      row.runs.push(result)
      rows.set(key, row)
    }
  }
  return [...rows.values()]
}

/** Preloads, warms up (calibrating the request count) and measures Redis. */
async function measureRedis(deployment: Deployment, commands: Set<string>): Promise<Row[]> {
  const target: RedisTarget = {
    port: deployment.port!,
    pid: deployment.pids[0]!,
    connections: config.connections,
    keyCount: config.keyCount,
  }
  await preloadRedis(target)
  const stored = await redisKeyCount(target)
  if (stored !== config.keyCount) throw new Error(`redis: ${stored} keys after the preload`)
  log(`redis: preloaded ${stored} keys`)
  const ops = config.operations
  // Warm-up doubles as calibration: a timed run's request count is rate × duration.
  const rate: Partial<Record<Operation, number>> = {}
  for (const op of ops) {
    const warm = await runRedis(target, op, 20_000)
    const warm2 = await runRedis(
      target,
      op,
      Math.max(20_000, Math.round(warm.opsPerSec * config.warmupSec)),
    )
    rate[op] = warm2.opsPerSec
  }
  const rows = new Map<Operation, Row>()
  for (let run = 0; run < config.runs; run++) {
    for (const op of run % 2 === 0 ? ops : [...ops].reverse()) {
      const requests = Math.max(10_000, Math.round(rate[op]! * config.durationSec))
      const result = await runRedis(target, op, requests, commands)
      log(`run ${run + 1}/${config.runs} ${describe('redis', 'appendfsync everysec', op, result)}`)
      const row = rows.get(op) ?? {
        system: 'redis',
        setting: 'AOF appendfsync everysec',
        operation: op,
        loadGenerator: 'redis-benchmark' as const,
        runs: [],
      }
      row.runs.push(result)
      rows.set(op, row)
    }
  }
  return [...rows.values()]
}

/** Ratios the issue sets targets on, from the rows present. */
function targets(rows: readonly Row[]): string[] {
  const find = (system: string, setting: string, op: Operation) =>
    rows.find((r) => r.system === system && r.setting.startsWith(setting) && r.operation === op)
  const lines: string[] = []
  const compare = (what: string, ours?: Row, theirs?: Row, factor = 2) => {
    if (ours === undefined || theirs === undefined) return
    const a = summarize(ours)
    const b = summarize(theirs)
    const ratio = a.ops / b.ops
    lines.push(
      `- ${what}: ${ratio.toFixed(2)}× throughput (target >= ${factor}×: ${ratio >= factor ? 'met' : 'NOT met'}); p99 ${a.p99} ms vs ${b.p99} ms (target lower: ${a.p99 < b.p99 ? 'met' : 'NOT met'}).`,
    )
  }
  compare(
    'Gossamer 3 nodes PUT (w=quorum, sync) vs etcd 3 members PUT',
    find('gossamer 3 nodes', 'N=3, w=quorum, r=quorum', 'PUT'),
    find('etcd 3 members', 'Raft, linearizable', 'PUT'),
  )
  compare(
    'Gossamer 3 nodes GET (r=quorum) vs etcd 3 members linearizable range',
    find('gossamer 3 nodes', 'N=3, w=quorum, r=quorum', 'GET'),
    find('etcd 3 members', 'Raft, linearizable', 'GET'),
  )
  return lines
}

async function describeMachine(dir: string): Promise<string> {
  const fs = await runCommand('df', ['-T', dir], { timeoutMs: 10_000 })
  const fields = fs.stdout.trim().split('\n').at(-1)?.split(/\s+/) ?? []
  return `${machine()}; temp dir ${dir} on ${fields[0] ?? '?'} (${fields[1] ?? '?'})`
}

async function main(): Promise<void> {
  const missing = await ensurePeers(log)
  const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-compare-'))
  const rows: Row[] = []
  const skipped: string[] = []
  const serverCommands: string[] = []
  const redisCommands = new Set<string>()
  const machineLine = await describeMachine(tmp)
  try {
    for (const system of HTTP_SYSTEMS) {
      if (!config.systems.includes(system.id)) continue
      if (system.id.startsWith('etcd') && missing.includes('etcd')) {
        skipped.push(`${system.label}: etcd not installed`)
        continue
      }
      let deployment: Deployment | undefined
      try {
        log(`starting ${system.label}`)
        const dir = join(tmp, system.id)
        mkdirSync(dir)
        const startedAt = Date.now()
        deployment = await system.start(dir)
        log(`${system.label}: up and ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`)
        serverCommands.push(...deployment.commands)
        rows.push(...(await measureHttp(system, deployment)))
      } catch (error) {
        log(`${system.label} skipped: ${(error as Error).message}`)
        skipped.push(`${system.label}: ${(error as Error).message}`)
      } finally {
        await deployment?.stop()
      }
    }
    if (config.systems.includes('redis')) {
      if (missing.some((b) => b.startsWith('redis'))) {
        skipped.push('redis: not installed')
      } else {
        let deployment: Deployment | undefined
        try {
          log('starting redis')
          mkdirSync(join(tmp, 'redis'))
          deployment = await startRedis(join(tmp, 'redis'))
          serverCommands.push(...deployment.commands)
          rows.push(...(await measureRedis(deployment, redisCommands)))
        } catch (error) {
          log(`redis skipped: ${(error as Error).message}`)
          skipped.push(`redis: ${(error as Error).message}`)
        } finally {
          await deployment?.stop()
        }
      }
    }
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
  await writeReport({
    rows,
    skipped,
    serverCommands,
    redisCommands: [...redisCommands],
    machineLine,
  })
}

async function writeReport(input: {
  rows: Row[]
  skipped: string[]
  serverCommands: string[]
  redisCommands: string[]
  machineLine: string
}): Promise<void> {
  const date = new Date().toISOString()
  const day = date.slice(0, 10)
  const commit = (
    await runCommand('git', ['rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 })
  ).stdout.trim()
  const gossamerVersion = (
    JSON.parse(readFileSync('packages/gossamer/package.json', 'utf8')) as { version: string }
  ).version
  const autocannonVersion = (
    JSON.parse(readFileSync('node_modules/autocannon/package.json', 'utf8')) as { version: string }
  ).version
  const envLine = `BENCH_CONNECTIONS=${config.connections} BENCH_KEYS=${config.keyCount} BENCH_DURATION_S=${config.durationSec} BENCH_RUNS=${config.runs} BENCH_WARMUP_S=${config.warmupSec} BENCH_SYSTEMS=${config.systems.join(',')} BENCH_OPERATIONS=${config.operations.join(',')}`
  const svgName = `${day}-compare.svg`
  const targetLines = targets(input.rows)
  const report = [
    `# Gossamer vs etcd vs Redis — ${date}`,
    '',
    `Command: \`${envLine} npm run bench:compare\``,
    '',
    `Machine: ${input.machineLine}`,
    '',
    `Versions: gossamer ${gossamerVersion} (commit ${commit}); ${await versionOf('etcd')}; ${await versionOf('redis-server')}; autocannon ${autocannonVersion}.`,
    '',
    `Workload: ${config.connections} connections, 100-byte values, ${config.keyCount} keys preloaded; warm-up ${config.warmupSec} s GET + ${config.warmupSec} s PUT; then ${config.runs} timed run(s) of ${config.durationSec} s per line, in alternating order; keys chosen by a fixed hash of the request number (uniform). MIX = every tenth request a PUT. HTTP systems: one autocannon in the harness process (same two cores as the servers), connections spread round-robin over every member. Server CPU = user+system CPU seconds of the server processes during the run / run time (2.00 = both cores).`,
    '',
    markdownTable(input.rows),
    '',
    `![throughput and p99 per system](./${svgName})`,
    '',
    ...(targetLines.length > 0
      ? ['## Targets (issue 6), ratios from this run', '', ...targetLines, '']
      : []),
    ...(input.skipped.length > 0
      ? ['## Skipped', '', ...input.skipped.map((s) => `- ${s}`), '']
      : []),
    '## Notes',
    '',
    '- etcd is reached through its gRPC-gateway (JSON, base64 keys and values): the only HTTP API it has. Every etcd PUT goes through Raft and an fsynced WAL; a linearizable range does a ReadIndex round to the leader, a serializable one reads the local member.',
    '- Gossamer `sync` durability fsyncs each LMDB commit before the reply. Redis `appendfsync everysec` fsyncs once a second (up to a second of acknowledged writes can be lost): it is the speed reference, not an equal-durability peer.',
    '- autocannon records latencies in whole milliseconds; medians of an even number of runs can end in .5.',
    '- redis-benchmark reports latency percentiles at its own resolution; its p99.9 (and the MIX p50/p99, merged from two concurrent redis-benchmark processes, GET on 90% of the connections and SET on 10%) is the first recorded percentile step at or above the quantile — an upper bound.',
    '',
    '## Exact commands',
    '',
    'Servers (one system at a time, data under a fresh temp dir; ports chosen free at start):',
    '',
    '```',
    ...input.serverCommands,
    '```',
    '',
    'Load: autocannon (Node API, `bench/lib.ts` `loadRequests`) with `connections`, `duration` and a per-request `setupRequest` building the request from `bench/compare/workload.ts`. Redis:',
    '',
    '```',
    ...input.redisCommands,
    '```',
    '',
  ].join('\n')
  const file = join('bench', 'results', `${day}-compare.md`)
  writeFileSync(file, report)
  // Raw runs, for re-plotting or comparing before/after without re-running.
  writeFileSync(
    join('bench', 'results', `${day}-compare.json`),
    `${JSON.stringify({ date, config, machine: input.machineLine, rows: input.rows }, null, 1)}\n`,
  )
  writeFileSync(
    join('bench', 'results', svgName),
    svgChart(input.rows, `Gossamer vs etcd vs Redis — ${day}, ${os.cpus().length} cores`),
  )
  process.stdout.write(report)
  log(`written ${file} and ${svgName}`)
}

const onSignal = () => {
  stopAll().finally(() => process.exit(130))
}
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)
await main()
