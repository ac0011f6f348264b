/**
 * One reliability scenario, end to end (issue 5, "Real processes, real faults"): start a 5-node
 * cluster of real agent processes, run the workload while a *nemesis* injects one kind of fault,
 * heal, keep the workload going a little on the healed cluster, wait (bounded) for membership and
 * then for every replica of every key to agree, and check the recorded history and the final
 * state. The result is one row of docs/reliability.md: printed as a `RELIABILITY-ROW {json}`
 * line and appended to `$GOSSAMER_RELIABILITY_RESULTS` when set. On violations the whole
 * history is written to a temp file whose path the failure names.
 */
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  checkHistory,
  checkReplicasAgree,
  formatViolations,
  type Violation,
} from '../../../src/testing/history/checker.ts'
import { describeOperation, History } from '../../../src/testing/history/history.ts'
import {
  Cluster,
  type ClusterOptions,
  type NodeStartOptions,
  seededRandom,
} from '../../helpers/cluster-harness.ts'
import { keyspace, readFinalState, runWorkload } from './workload.ts'

/** What a nemesis gets: the cluster, a seeded PRNG, a log, and a signal that ends the faults. */
export interface NemesisContext {
  readonly cluster: Cluster
  readonly random: () => number
  readonly signal: AbortSignal
  /** Appends a timestamped line to the scenario's fault log (printed with the result). */
  readonly log: (line: string) => void
}

/** A scenario: its fault, how to inject it, and how to undo it. */
export interface ScenarioSpec {
  /** Row name, e.g. `kill-restart`. */
  readonly name: string
  /** The fault, in a few words, for the table. */
  readonly fault: string
  /** The command that reproduces the row. */
  readonly command: string
  readonly seed: number
  /** @default 5 */
  readonly nodes?: number
  /** Cluster-wide options (replicas, env...). */
  readonly cluster?: Omit<ClusterOptions, 'nodes'>
  /** Per-node start options (addresses, env), by index. */
  readonly nodeStart?: (index: number) => NodeStartOptions
  /** How long faults are injected. */
  readonly faultWindowMs: number
  /** Workload on the healed cluster after the faults. @default 3000 */
  readonly healedWindowMs?: number
  /** @default 4 */
  readonly clients?: number
  /** @default 12 */
  readonly keyCount?: number
  /** Injects faults until `signal` aborts; must leave every node running (restart what it killed). */
  readonly nemesis: (context: NemesisContext) => Promise<void>
  /** Undoes every fault; called once, also on failure. Must be idempotent. */
  readonly heal: (cluster: Cluster | undefined) => Promise<void> | void
  /** Evidence that the fault happened (e.g. packets dropped), for the row; read after healing. */
  readonly evidence?: () => string
  /** Bound on the wait for convergence after healing. @default 120 s */
  readonly convergeDeadlineMs?: number
}

/** One row of the results table. */
export interface ScenarioRow {
  readonly scenario: string
  readonly fault: string
  readonly seed: number
  readonly durationMs: number
  readonly attempted: number
  readonly acknowledged: number
  readonly writesAcknowledged: number
  readonly failed: number
  readonly unknown: number
  readonly strongReadsChecked: number
  readonly violations: number
  readonly convergeMs: number
  readonly converged: boolean
  readonly command: string
  /** What shows the fault happened: the nemesis's own count (kills, pauses, packets dropped). */
  readonly evidence: string
}

/** Result of {@link runScenario}. */
export interface ScenarioResult {
  readonly row: ScenarioRow
  readonly violations: readonly Violation[]
  /** Human-readable failure text (violations, fault log, history file), or '' when clean. */
  readonly report: string
}

/** Environment every scenario node gets: quick anti-entropy so convergence fits the budget. */
export const SCENARIO_NODE_ENV: Readonly<Record<string, string>> = {
  GOSSAMER_ANTI_ENTROPY_INTERVAL_MS: '2000',
}

/** Runs a scenario; never leaves a process behind. */
export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const started = performance.now()
  const faultLog: string[] = []
  const log = (line: string) => {
    faultLog.push(`${((performance.now() - started) / 1000).toFixed(1)}s ${line}`)
  }
  const cluster = await startScenarioCluster(spec)
  const history = new History({ nowMs: () => performance.now() })
  const keys = keyspace(spec.keyCount ?? 12)
  try {
    const faults = new AbortController()
    const workload = runWorkload({
      targets: () => cluster.nodes.map((n) => ({ name: n.name, http: n.addresses.http })),
      history,
      clients: spec.clients ?? 4,
      durationMs: spec.faultWindowMs + (spec.healedWindowMs ?? 3000),
      keyCount: keys.length,
      seed: spec.seed,
    })
    const nemesis = spec.nemesis({
      cluster,
      random: seededRandom(spec.seed),
      signal: faults.signal,
      log,
    })
    await raceDeadline(spec.faultWindowMs, nemesis)
    faults.abort()
    await nemesis
    await spec.heal(cluster)
    log('healed')
    await workload
    log('workload done')
    await cluster.waitConverged({ deadlineMs: 90_000 })
    log('membership converged')
    const state = await readFinalState(cluster, keys, {
      deadlineMs: spec.convergeDeadlineMs ?? 120_000,
    })
    log(`replicas ${state.converged ? 'agree' : 'still disagree'}`)
    const checked = checkHistory(history.operations, { finalState: state.final })
    const violations = [...checked.violations, ...checkReplicasAgree(state.replicas)]
    const summary = history.summary()
    const row: ScenarioRow = {
      scenario: spec.name,
      fault: spec.fault,
      seed: spec.seed,
      durationMs: Math.round(spec.faultWindowMs + (spec.healedWindowMs ?? 3000)),
      attempted: summary.attempted,
      acknowledged: summary.acknowledged,
      writesAcknowledged: summary.writesAcknowledged,
      failed: summary.failed,
      unknown: summary.unknown,
      strongReadsChecked: checked.checked.strongReads,
      violations: violations.length,
      convergeMs: Math.round(state.convergeMs),
      converged: state.converged,
      command: spec.command,
      evidence:
        spec.evidence?.() ??
        faultLog.filter((l) => !/healed|done|converged|agree/.test(l)).length + ' fault events',
    }
    await publish(row)
    const report =
      violations.length === 0
        ? ''
        : `${formatViolations(violations)}\nhistory: ${await saveHistory(spec, history)}\nfault log:\n${faultLog.join('\n')}`
    return { row, violations, report }
  } catch (error) {
    const path = await saveHistory(spec, history)
    throw new Error(
      `${spec.name} (seed ${spec.seed}) failed: ${(error as Error).message}\nhistory: ${path}\n` +
        `fault log:\n${faultLog.join('\n')}\n${cluster.describe()}`,
    )
  } finally {
    await Promise.resolve(spec.heal(cluster)).catch(() => {})
    await cluster.stop()
  }
}

/** Like the harness's `startCluster`, with per-node start options. */
async function startScenarioCluster(spec: ScenarioSpec): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), `gossamer-reliability-${spec.name}-`))
  const options: ClusterOptions = {
    nodes: spec.nodes ?? 5,
    ...spec.cluster,
    env: { ...SCENARIO_NODE_ENV, ...spec.cluster?.env },
  }
  const cluster = new Cluster(root, options)
  try {
    await cluster.addNode(spec.nodeStart?.(0))
    await Promise.all(
      Array.from({ length: options.nodes - 1 }, (_, i) => cluster.addNode(spec.nodeStart?.(i + 1))),
    )
    await cluster.waitConverged()
    return cluster
  } catch (error) {
    const diagnostics = cluster.describe()
    await cluster.stop()
    throw new Error(`${(error as Error).message}\n${diagnostics}`)
  }
}

/** Resolves after `ms` or when `work` settles, whichever is first (work keeps running). */
async function raceDeadline(ms: number, work: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    work,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
    }),
  ])
  clearTimeout(timer)
}

async function publish(row: ScenarioRow): Promise<void> {
  const line = JSON.stringify(row)
  process.stdout.write(`RELIABILITY-ROW ${line}\n`)
  const file = process.env.GOSSAMER_RELIABILITY_RESULTS
  if (file !== undefined && file !== '') await appendFile(file, `${line}\n`)
}

async function saveHistory(spec: ScenarioSpec, history: History): Promise<string> {
  const path = join(tmpdir(), `gossamer-history-${spec.name}-${spec.seed}-${process.pid}.txt`)
  await writeFile(path, history.operations.map(describeOperation).join('\n'))
  return path
}

/**
 * Waits `ms`, or less if `signal` aborts first; resolves either way (for nemesis loops, which
 * check the signal after each wait).
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** Whether the reliability scenarios are switched on (they take minutes). */
export function scenariosSkipped(): string | false {
  return process.env.GOSSAMER_RELIABILITY === '1'
    ? false
    : 'set GOSSAMER_RELIABILITY=1 to run (npm run reliability)'
}
