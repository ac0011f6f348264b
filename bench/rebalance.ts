/**
 * Rebalancing benchmark (issue 6): a 3-node Gossamer cluster (N=3, agent defaults: durable
 * `sync` commits, 4096 partitions) on loopback holding BENCH_KEYS keys of 100-byte values; a
 * fourth node joins while a fixed-rate foreground load runs. Reports how fast the moved
 * partitions stream (MB/s and records/s, from the nodes' rebalancing metrics) and the
 * foreground latency before, during and after the move. Not a test: numbers go to
 * `bench/results/<date>-rebalance.md` and `.json`, with the command and the machine.
 *
 *   npm run bench:rebalance                          # 1,000,000 keys (an idle machine, please)
 *   BENCH_KEYS=20000 BENCH_BASELINE_S=5 npm run bench:rebalance   # a quick functional run
 *
 * Phases:
 * 1. start n1, then n2 and n3 joining it; wait until all are ready;
 * 2. bulk load: `PUT /v1/kv/rb-<i>?w=<BENCH_LOAD_W, default quorum>` for every i once, with
 *    autocannon (BENCH_LOAD_CONNECTIONS connections spread over the three nodes); then wait,
 *    bounded, until every node holds every key (so the join streams the full data set);
 * 3. foreground load, open loop at a fixed BENCH_RATE requests/s over the three original nodes
 *    (round-robin): 90 % `GET ?r=quorum`, 10 % `PUT ?w=quorum` of loaded keys. Latency is
 *    measured from each request's *scheduled* send time, so a stalled server shows up as latency
 *    instead of silently lowering the rate (no coordinated omission). BENCH_BASELINE_S of it
 *    before the join is the baseline;
 * 4. n4 starts with `--join`; the bench polls every node's `/metrics`, `/v1/ready` and
 *    `/v1/cluster/members` every BENCH_POLL_MS until (a) every node lists 4 alive owners, every
 *    node is ready and no partition is left to stream in (`gossamer_handoff_inbound_partitions`
 *    0 everywhere) — the streaming end — and (b) no old replica still holds a partition for a
 *    receiver (`gossamer_handoff_outbound_partitions` 0 everywhere) — the move's end. Bytes,
 *    records and partitions streamed are the increase of `gossamer_handoff_bytes_total`,
 *    `_records_total` and `_partitions_total` summed over the nodes; bytes are payload bytes
 *    (UTF-8 key + value), not wire bytes;
 * 5. the foreground load runs on for BENCH_AFTER_S after the move, then everything stops. Every
 *    process is SIGKILLed by PID in `finally` (the data is thrown away: no graceful leave).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  cpuSeconds,
  keyIndex,
  loadRequests,
  machine,
  residentBytes,
  type Server,
  startServer,
} from './lib.ts'

const keyCount = Number(process.env.BENCH_KEYS ?? 1_000_000)
const loadConnections = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 64)
const loadW = process.env.BENCH_LOAD_W ?? 'quorum'
const rate = Number(process.env.BENCH_RATE ?? 300)
const baselineSec = Number(process.env.BENCH_BASELINE_S ?? 15)
const afterSec = Number(process.env.BENCH_AFTER_S ?? 10)
const moveDeadlineSec = Number(process.env.BENCH_MOVE_DEADLINE_S ?? 1800)
const pollMs = Number(process.env.BENCH_POLL_MS ?? 500)
/** Foreground requests queued or in flight at most; beyond it a request is shed (an error). */
const MAX_OUTSTANDING = 5_000
/** A foreground request without an answer this long is an error. */
const REQUEST_TIMEOUT_MS = 10_000
/** Deadlines of the set-up waits. */
const FORM_DEADLINE_MS = 300_000
const REPLICATE_DEADLINE_MS = 600_000
const VALUE = Buffer.alloc(100, 'v')
const keyName = (i: number) => `rb-${String(i).padStart(7, '0')}`
const REBALANCE_METRICS = [
  'gossamer_handoff_records_total',
  'gossamer_handoff_bytes_total',
  'gossamer_handoff_partitions_total',
  'gossamer_handoff_inbound_partitions',
  'gossamer_handoff_outbound_partitions',
  'gossamer_anti_entropy_repaired_total',
  'gossamer_hints_pending',
] as const
type MetricName = (typeof REBALANCE_METRICS)[number]
type Metrics = Record<MetricName, number>

const command = [
  ...[
    'BENCH_KEYS',
    'BENCH_RATE',
    'BENCH_BASELINE_S',
    'BENCH_AFTER_S',
    'BENCH_LOAD_W',
    'BENCH_LOAD_CONNECTIONS',
    'BENCH_MOVE_DEADLINE_S',
    'BENCH_POLL_MS',
  ]
    .filter((name) => process.env[name] !== undefined)
    .map((name) => `${name}=${process.env[name]}`),
  'npm run bench:rebalance',
].join(' ')
const loadBefore = os.loadavg()
const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-bench-rebalance-'))
const servers: Server[] = []
let foreground: Foreground | undefined
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function agentArgs(name: string, extra: string[]): string[] {
  return [
    'packages/gossamer/bin/gossamer.js',
    'agent',
    ...['--name', name, '--data-dir', join(tmp, name), '--log-level', 'warn'],
    ...['--http-port', '0', '--gossip-port', '0', '--rpc-port', '0', '--advertise', '127.0.0.1'],
    ...['--gossip-preset', 'local', '--replicas', '3'],
    ...extra,
  ]
}

/** SIGKILLs a child by PID and waits (bounded) for its exit. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(child.pid, 'SIGKILL')
  await Promise.race([exited, sleep(10_000)])
}

// Ctrl-C still stops the agents (finally blocks do not run on a signal).
process.once('SIGINT', () => {
  for (const s of servers) {
    if (s.child.pid !== undefined && s.child.exitCode === null) {
      try {
        process.kill(s.child.pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
  }
  rmSync(tmp, { recursive: true, force: true })
  process.exit(130)
})

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  if (response.status !== 200) throw new Error(`${url}: ${response.status}`)
  return (await response.json()) as T
}

async function scrape(server: Server): Promise<Metrics> {
  const response = await fetch(`${server.http}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await response.text()
  const values = {} as Metrics
  for (const name of REBALANCE_METRICS) {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
    if (match === null) throw new Error(`${server.name}: ${name} missing from /metrics`)
    values[name] = Number(match[1])
  }
  return values
}

async function isReady(server: Server): Promise<boolean> {
  return fetch(`${server.http}/v1/ready`, { signal: AbortSignal.timeout(10_000) }).then(
    (r) => r.status === 200,
    () => false,
  )
}

/** Alive owners in `server`'s member list. */
async function aliveOwners(server: Server): Promise<number> {
  const body = await getJson<{ members: { state: string; owner: boolean }[] }>(
    `${server.http}/v1/cluster/members`,
  )
  return body.members.filter((m) => m.state === 'alive' && m.owner).length
}

async function keysOn(server: Server): Promise<number> {
  return (await getJson<{ keys: number }>(`${server.http}/v1/admin/stats`)).keys
}

/** Polls `check` until it is true; throws after `deadlineMs`. */
async function waitUntil(what: string, check: () => Promise<boolean>, deadlineMs: number) {
  const until = Date.now() + deadlineMs
  for (let attempt = 0; attempt < 1_000_000; attempt++) {
    if (await check().catch(() => false)) return
    if (Date.now() >= until) break
    await sleep(pollMs)
  }
  throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)
}

// ---------------------------------------------------------------------------------------------
// Foreground load: open loop at a fixed rate, latency from the scheduled send time.

interface Sample {
  /** Scheduled send time, ms on the performance clock. */
  readonly at: number
  readonly latencyMs: number
  readonly ok: boolean
  /** `<method> <status>`, or `<method> timeout|socket-error|response-error|shed`. */
  readonly answer: string
}

interface Foreground {
  readonly samples: Sample[]
  readonly statuses: Map<string, number>
  stop(): Promise<void>
}

function startForeground(targets: readonly Server[]): Foreground {
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 32 }))
  const urls = targets.map((s) => new URL(s.http))
  const samples: Sample[] = []
  const statuses = new Map<string, number>()
  const count = (status: string) => statuses.set(status, (statuses.get(status) ?? 0) + 1)
  const started = performance.now()
  const intervalMs = 1000 / rate
  let sent = 0
  let outstanding = 0
  let stopped = false
  let drained: () => void = () => {}

  const send = (n: number, at: number) => {
    const op: 'GET' | 'PUT' = n % 10 === 9 ? 'PUT' : 'GET'
    const slot = n % targets.length
    const key = keyName(keyIndex(n, keyCount))
    const record = (ok: boolean, status: string) => {
      samples.push({ at, latencyMs: performance.now() - at, ok, answer: `${op} ${status}` })
      count(`${op} ${status}`)
      outstanding -= 1
      if (stopped && outstanding === 0) drained()
    }
    if (outstanding >= MAX_OUTSTANDING) {
      outstanding += 1
      record(false, 'shed')
      return
    }
    outstanding += 1
    let done = false
    const finish = (ok: boolean, status: string) => {
      if (done) return
      done = true
      record(ok, status)
    }
    const request = http.request(
      {
        host: urls[slot]!.hostname,
        port: urls[slot]!.port,
        method: op,
        path: `/v1/kv/${key}?${op === 'PUT' ? 'w' : 'r'}=quorum`,
        agent: agents[slot],
        headers: op === 'PUT' ? { 'content-type': 'application/octet-stream' } : {},
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        response.resume()
        response.once('end', () => {
          const code = response.statusCode ?? 0
          finish(code >= 200 && code < 300, String(code))
        })
        response.once('error', () => finish(false, 'response-error'))
      },
    )
    request.once('timeout', () => {
      request.destroy()
      finish(false, 'timeout')
    })
    request.once('error', () => finish(false, 'socket-error'))
    request.end(op === 'PUT' ? VALUE : undefined)
  }

  // Every 5 ms, send what the schedule says is due (each with its own scheduled time).
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - started) / intervalMs)
    // Bounded per tick: a long event-loop stall sends its backlog over several ticks.
    for (let i = 0; sent < due && i < 10_000; i++, sent++) {
      send(sent, started + sent * intervalMs)
    }
  }, 5)

  return {
    samples,
    statuses,
    async stop() {
      if (stopped) return
      clearInterval(timer)
      stopped = true
      if (outstanding > 0) {
        await Promise.race([
          new Promise<void>((resolve) => {
            drained = resolve
          }),
          sleep(REQUEST_TIMEOUT_MS + 2_000),
        ])
      }
      for (const agent of agents) agent.destroy()
    },
  }
}

interface LatencySummary {
  readonly requests: number
  readonly opsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
  readonly errors: number
  /** Count per answer (`GET 200`, `PUT 201`, `GET timeout`, ...). */
  readonly answers: Record<string, number>
}

function summarise(samples: readonly Sample[], fromMs: number, toMs: number): LatencySummary {
  const inWindow = samples.filter((s) => s.at >= fromMs && s.at < toMs)
  const latencies = Float64Array.from(inWindow.map((s) => s.latencyMs)).sort()
  const at = (q: number) =>
    latencies.length === 0
      ? Number.NaN
      : latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!
  const round = (ms: number) => Math.round(ms * 10) / 10
  return {
    requests: inWindow.length,
    opsPerSec: Math.round(inWindow.length / Math.max(0.001, (toMs - fromMs) / 1000)),
    p50Ms: round(at(0.5)),
    p99Ms: round(at(0.99)),
    p999Ms: round(at(0.999)),
    maxMs: round(latencies.length === 0 ? Number.NaN : latencies[latencies.length - 1]!),
    errors: inWindow.filter((s) => !s.ok).length,
    answers: inWindow.reduce<Record<string, number>>((counts, s) => {
      counts[s.answer] = (counts[s.answer] ?? 0) + 1
      return counts
    }, {}),
  }
}

// ---------------------------------------------------------------------------------------------

/** One poll of the cluster during the move. */
interface Poll {
  readonly tSec: number
  readonly bytes: number
  readonly records: number
  readonly partitions: number
  readonly inbound: number
  readonly outbound: number
  readonly ready: number
  readonly owners: number
}

function sumOf(all: readonly Metrics[], name: MetricName): number {
  return all.reduce((sum, m) => sum + m[name], 0)
}

const cpuUser = () => {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
  return line.slice(1).map(Number)
}

try {
  // 1. The three-node cluster.
  const n1 = await startServer('n1', agentArgs('n1', []), 60_000)
  servers.push(n1)
  const seed = String(n1.info.gossip)
  servers.push(
    ...(await Promise.all(
      ['n2', 'n3'].map((name) => startServer(name, agentArgs(name, ['--join', seed]), 60_000)),
    )),
  )
  const original = [...servers]
  const formingSince = Date.now()
  await waitUntil(
    '3 alive owners on every node, every node ready',
    async () =>
      (await Promise.all(original.map(aliveOwners))).every((n) => n === 3) &&
      (await Promise.all(original.map(isReady))).every(Boolean),
    FORM_DEADLINE_MS,
  )
  const partitionCount = (
    await getJson<{ partitionCount: number }>(`${n1.http}/v1/cluster/partitions`)
  ).partitionCount
  log(`3-node cluster ready after ${Date.now() - formingSince} ms (${partitionCount} partitions)`)

  // 2. Bulk load.
  const loadStarted = performance.now()
  const bulk = await loadRequests({
    url: original.map((s) => s.http),
    connections: loadConnections,
    amount: keyCount,
    request: (n) => ({
      method: 'PUT',
      path: `/v1/kv/${keyName(n % keyCount)}?w=${loadW}`,
      body: VALUE,
      headers: { 'content-type': 'application/octet-stream' },
    }),
    serverPids: original.map((s) => s.child.pid!),
  })
  const loadSec = (performance.now() - loadStarted) / 1000
  log(
    `loaded ${keyCount} keys in ${loadSec.toFixed(1)} s: ${(keyCount / loadSec).toFixed(0)} keys/s, p99 ${bulk.p99Ms} ms, errors ${bulk.errors}, non-2xx ${bulk.non2xx}`,
  )
  const replicateSince = performance.now()
  await waitUntil(
    `every node to hold ${keyCount} keys`,
    async () => (await Promise.all(original.map(keysOn))).every((k) => k >= keyCount),
    REPLICATE_DEADLINE_MS,
  )
  const replicateWaitSec = (performance.now() - replicateSince) / 1000
  const keysBefore = await Promise.all(original.map(keysOn))
  const rssBefore = original.map((s) => residentBytes(s.child.pid!).rss)
  log(`every node holds every key (${keysBefore.join(' / ')}), ${replicateWaitSec.toFixed(1)} s`)

  // 3. Foreground baseline.
  const fg = startForeground(original)
  foreground = fg
  const baselineFrom = performance.now()
  await sleep(baselineSec * 1000)
  const before = await Promise.all(original.map(scrape))

  // 4. The join.
  const joinAt = performance.now()
  const cpuBefore = original.map((s) => cpuSeconds(s.child.pid!))
  const machineBefore = cpuUser()
  const n4 = await startServer('n4', agentArgs('n4', ['--join', seed]), 60_000)
  servers.push(n4)
  const listeningSec = (performance.now() - joinAt) / 1000
  log(`n4 listening after ${listeningSec.toFixed(1)} s; waiting for the move`)
  const all = [...original, n4]
  const baseOf = (i: number, name: MetricName) => (i < before.length ? before[i]![name] : 0)
  const polls: Poll[] = []
  let firstTransferSec: number | undefined
  let streamedSec: number | undefined
  let movedSec: number | undefined
  const moveUntil = Date.now() + moveDeadlineSec * 1000
  for (let attempt = 0; attempt < 10_000_000 && Date.now() < moveUntil; attempt++) {
    const tSec = (performance.now() - joinAt) / 1000
    try {
      const [metrics, ready, owners] = await Promise.all([
        Promise.all(all.map(scrape)),
        Promise.all(all.map(isReady)),
        Promise.all(all.map(aliveOwners)),
      ])
      const delta = (name: MetricName) =>
        metrics.reduce((sum, m, i) => sum + m[name] - baseOf(i, name), 0)
      const poll: Poll = {
        tSec,
        bytes: delta('gossamer_handoff_bytes_total'),
        records: delta('gossamer_handoff_records_total'),
        partitions: delta('gossamer_handoff_partitions_total'),
        inbound: sumOf(metrics, 'gossamer_handoff_inbound_partitions'),
        outbound: sumOf(metrics, 'gossamer_handoff_outbound_partitions'),
        ready: ready.filter(Boolean).length,
        owners: Math.min(...owners),
      }
      polls.push(poll)
      if (firstTransferSec === undefined && (poll.inbound > 0 || poll.bytes > 0)) {
        firstTransferSec = tSec
      }
      const streamed =
        poll.owners === 4 && poll.ready === 4 && poll.inbound === 0 && poll.partitions > 0
      if (streamed && streamedSec === undefined) {
        streamedSec = tSec
        log(`streaming done at ${tSec.toFixed(1)} s: ${poll.records} records, ${poll.bytes} B`)
      }
      if (streamed && poll.outbound === 0) {
        movedSec = tSec
        break
      }
      if (attempt % Math.max(1, Math.round(10_000 / pollMs)) === 0) {
        log(
          `t=${tSec.toFixed(1)} s owners ${poll.owners} ready ${poll.ready}/4 inbound ${poll.inbound} outbound ${poll.outbound} streamed ${poll.records} records ${(poll.bytes / 1e6).toFixed(1)} MB`,
        )
      }
    } catch (error) {
      log(`poll failed: ${(error as Error).message}`)
    }
    await sleep(pollMs)
  }
  const moveEnd = performance.now()
  const cpuMove = all.map((s, i) => cpuSeconds(s.child.pid!) - (cpuBefore[i] ?? 0))
  const machineAfter = cpuUser()
  if (movedSec === undefined) {
    throw new Error(
      `the move did not finish within ${moveDeadlineSec} s; last poll ${JSON.stringify(polls.at(-1))}`,
    )
  }
  const finalMetrics = await Promise.all(all.map(scrape))
  await sleep(afterSec * 1000)
  const afterTo = performance.now()
  await fg.stop()
  const keysAfter = await Promise.all(all.map(keysOn))
  const rssAfter = all.map((s) => residentBytes(s.child.pid!).rss)
  const placement = await getJson<{ replicas: number; partitions: { owners: string[] }[] }>(
    `${n1.http}/v1/cluster/partitions`,
  )
  const partitionsOnN4 = placement.partitions.filter((p) =>
    p.owners.slice(0, placement.replicas).includes('n4'),
  ).length

  // 5. Numbers.
  const last = polls.at(-1)!
  const delta = (name: MetricName) =>
    finalMetrics.reduce((sum, m, i) => sum + m[name] - baseOf(i, name), 0)
  const bytes = delta('gossamer_handoff_bytes_total')
  const records = delta('gossamer_handoff_records_total')
  const partitionsStreamed = delta('gossamer_handoff_partitions_total')
  const aaeRepaired = delta('gossamer_anti_entropy_repaired_total')
  const streamStart = firstTransferSec ?? 0
  const streamSec = Math.max(0.001, (streamedSec ?? movedSec) - streamStart)
  const idleShare = (() => {
    const diff = machineAfter.map((v, i) => v - (machineBefore[i] ?? 0))
    const total = diff.reduce((a, b) => a + b, 0)
    return total === 0 ? Number.NaN : (diff[3]! + (diff[4] ?? 0)) / total
  })()
  const phases = {
    before: summarise(fg.samples, baselineFrom, joinAt),
    during: summarise(fg.samples, joinAt, moveEnd),
    after: summarise(fg.samples, moveEnd, afterTo),
  }
  // Foreground latency per window from the start of the baseline: the shape of the disturbance.
  // Windows of 5 s, wider on a long run (at most about 40 rows).
  const windowMs = 5_000 * Math.max(1, Math.ceil((afterTo - baselineFrom) / 5_000 / 40))
  const timeline: Array<{ fromSec: number } & LatencySummary> = []
  for (let from = baselineFrom; from < afterTo; from += windowMs) {
    timeline.push({
      fromSec: Math.round((from - joinAt) / 1000),
      ...summarise(fg.samples, from, Math.min(from + windowMs, afterTo)),
    })
  }
  const loadAfter = os.loadavg()
  const result = {
    date: new Date().toISOString(),
    command,
    machine: {
      summary: machine(),
      nproc: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      ramGiB: Math.round(os.totalmem() / 2 ** 30),
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAfter,
      idleShareDuringMove: idleShare,
    },
    settings: {
      keys: keyCount,
      valueBytes: VALUE.length,
      replicas: 3,
      partitions: partitionCount,
      durability: 'sync (agent default)',
      loadW,
      loadConnections,
      foregroundRate: rate,
      foregroundMix: '90% GET ?r=quorum, 10% PUT ?w=quorum, keys from the loaded set',
      baselineSec,
      afterSec,
      pollMs,
    },
    load: {
      seconds: loadSec,
      keysPerSec: keyCount / loadSec,
      p50Ms: bulk.p50Ms,
      p99Ms: bulk.p99Ms,
      errors: bulk.errors,
      non2xx: bulk.non2xx,
      replicateWaitSec,
      keysPerNode: keysBefore,
      rssBytesPerNode: rssBefore,
    },
    move: {
      n4ListeningSec: listeningSec,
      firstTransferSec: streamStart,
      streamedSec,
      movedSec,
      streamingSec: streamSec,
      bytes,
      records,
      partitionsStreamed,
      partitionsOnN4,
      mbPerSec: bytes / 1e6 / streamSec,
      recordsPerSec: records / streamSec,
      antiEntropyRepairedDuringMove: aaeRepaired,
      cpuSecondsPerNode: Object.fromEntries(all.map((s, i) => [s.name, cpuMove[i]])),
      keysPerNodeAfter: Object.fromEntries(all.map((s, i) => [s.name, keysAfter[i]])),
      rssBytesPerNodeAfter: Object.fromEntries(all.map((s, i) => [s.name, rssAfter[i]])),
      lastPoll: last,
    },
    foreground: { phases, statuses: Object.fromEntries(fg.statuses), timeline },
    polls,
  }

  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a')
  const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ')
  const phaseRow = (name: string, p: LatencySummary, window: string) =>
    `| ${name} | ${window} | ${p.requests} | ${p.opsPerSec} | ${p.p50Ms} | ${p.p99Ms} | ${p.p999Ms} | ${p.maxMs} | ${p.errors} |`
  const cpuModel = os.cpus()[0]?.model ?? 'unknown'
  const small = keyCount < 1_000_000
  const report = [
    `# Rebalancing benchmark — ${result.date}`,
    '',
    ...(small
      ? [
          `**${keyCount} keys, fewer than the issue's 1,000,000: a functional run of the bench, not the documented measurement.**`,
          '',
        ]
      : []),
    `Command: \`${command}\``,
    '',
    `Machine: nproc ${os.availableParallelism()}, ${cpuModel}, ${result.machine.ramGiB} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}. Load average (1/5/15 min) ${loads(loadBefore)} before the run, ${loads(loadAfter)} after it; the machine's CPU was ${f1(idleShare * 100)} % idle during the move. The load generator and all four agents share these cores.`,
    '',
    `Setup: 3 agents on loopback, N=3, ${partitionCount} partitions, durability \`sync\` (agent defaults), gossip preset \`local\`; data in a temp dir. ${keyCount} keys \`rb-NNNNNNN\` of ${VALUE.length}-byte values.`,
    '',
    '## Load',
    '',
    `\`PUT ?w=${loadW}\`, ${loadConnections} autocannon connections spread over the 3 nodes, each key once: ${keyCount} keys in ${f1(loadSec)} s = **${(keyCount / loadSec).toFixed(0)} keys/s** (p50 ${bulk.p50Ms} ms, p99 ${bulk.p99Ms} ms; errors ${bulk.errors}, non-2xx ${bulk.non2xx}). Every node held every key ${f1(replicateWaitSec)} s later (${keysBefore.join(' / ')} keys; RSS ${rssBefore.map((b) => `${(b / 2 ** 20).toFixed(0)} MiB`).join(' / ')}).`,
    '',
    '## The move: n4 joins',
    '',
    '| | |',
    '|---|---|',
    `| n4 listening | ${f1(listeningSec)} s after spawn |`,
    `| first transfer seen (poll every ${pollMs} ms) | ${f1(streamStart)} s |`,
    `| streaming done (4 owners everywhere, all ready, no inbound partition) | ${f1(streamedSec ?? Number.NaN)} s |`,
    `| move done (also no outbound partition held for a receiver) | ${f1(movedSec)} s |`,
    `| partitions streamed (transfers finished) | ${partitionsStreamed} (n4 replicates ${partitionsOnN4} of ${partitionCount}) |`,
    `| records streamed | ${records} |`,
    `| payload bytes streamed (key + value) | ${bytes} (${(bytes / 1e6).toFixed(1)} MB) |`,
    `| **streaming rate** (first transfer → streaming done, ${f1(streamSec)} s) | **${(bytes / 1e6 / streamSec).toFixed(2)} MB/s, ${(records / streamSec).toFixed(0)} records/s** |`,
    `| records repaired by anti-entropy during the move | ${aaeRepaired} |`,
    `| CPU seconds during the move | ${all.map((s, i) => `${s.name} ${f1(cpuMove[i]!)}`).join(', ')} |`,
    `| keys per node after | ${all.map((s, i) => `${s.name} ${keysAfter[i]}`).join(', ')} |`,
    '',
    'Bytes, records and partitions are the increase of `gossamer_handoff_bytes_total`, `gossamer_handoff_records_total` and `gossamer_handoff_partitions_total` summed over the four nodes (docs/cluster.md#metrics). Bytes are payload (UTF-8 key + value), not wire bytes.',
    '',
    '## Foreground load',
    '',
    `Open loop at a fixed ${rate} requests/s, round-robin over n1–n3: 90 % \`GET ?r=quorum\`, 10 % \`PUT ?w=quorum\` of loaded keys (100-byte values). Latency is measured from each request's scheduled send time (no coordinated omission); errors are non-2xx answers, timeouts (${REQUEST_TIMEOUT_MS / 1000} s), socket errors and requests shed above ${MAX_OUTSTANDING} outstanding.`,
    '',
    '| phase | window | requests | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |',
    '|---|---|---|---|---|---|---|---|---|',
    phaseRow('before', phases.before, `${baselineSec} s baseline`),
    phaseRow('during', phases.during, `join → move done (${f1((moveEnd - joinAt) / 1000)} s)`),
    phaseRow('after', phases.after, `${afterSec} s after`),
    '',
    ...(['before', 'during', 'after'] as const).map(
      (name) =>
        `- answers ${name}: ${Object.entries(phases[name].answers)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')}`,
    ),
    '',
    `Per ${windowMs / 1000} s window (seconds relative to the join):`,
    '',
    '| from s | requests | p50 ms | p99 ms | max ms | errors |',
    '|---|---|---|---|---|---|',
    ...timeline.map(
      (w) =>
        `| ${w.fromSec} | ${w.requests} | ${w.p50Ms} | ${w.p99Ms} | ${w.maxMs} | ${w.errors} |`,
    ),
    '',
  ].join('\n')
  const base = join('bench', 'results', `${result.date.slice(0, 10)}-rebalance`)
  writeFileSync(`${base}.md`, report)
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`)
  process.stdout.write(report)
  log(`written ${base}.md and ${base}.json`)
} finally {
  await foreground?.stop()
  await Promise.all(servers.map((s) => kill(s.child).catch(() => {})))
  rmSync(tmp, { recursive: true, force: true })
}
