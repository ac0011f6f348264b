/**
 * Knobs of one simulated run, as plain printable data (house style: config with documented
 * defaults). `resolveSimOptions` fills defaults; `swarmOptions` draws every knob from the seed
 * (swarm testing: each seed explores a different corner of the configuration space, so a fixed
 * set of seeds covers many combinations of faults instead of one average mix).
 */
import { SeededRandom } from './memberlist-parts.ts'

/** Fault kinds the scheduler may inject during the fault phase. */
export type FaultKind =
  /** One node cut off from every other node (both directions). */
  | 'isolate'
  /** The cluster split in a majority and a minority. */
  | 'split'
  /** One node can send to the others but hears nothing back (or the reverse). */
  | 'asymmetric'
  /** One node crashes (un-committed writes lost) and restarts later. */
  | 'crash'
  /** Every node crashes at once (power loss) and restarts later. */
  | 'power-loss'
  /** One node's wall clock jumps forwards or backwards. */
  | 'clock-jump'
  /** One node's disk becomes slow (commit latency × `slowDiskFactor`). */
  | 'slow-disk'
  /** A burst of heavy loss, duplication and delay on every link. */
  | 'lossy'

/** Every fault kind. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'isolate',
  'split',
  'asymmetric',
  'crash',
  'power-loss',
  'clock-jump',
  'slow-disk',
  'lossy',
]

/** All knobs of a run. */
export interface SimOptions {
  /** The seed: every random choice of the run derives from it. */
  readonly seed: string
  readonly nodeCount: number
  /** Length of the fault phase (workload and faults), virtual ms. */
  readonly durationMs: number
  /** After healing, the cluster must converge within this bound, virtual ms. */
  readonly convergeBoundMs: number
  readonly partitionCount: number
  /** N. */
  readonly replicaCount: number
  /** Concurrent clients (each issues one operation at a time). */
  readonly clientCount: number
  /** Distinct keys; few keys means contention. */
  readonly keyCount: number
  /** Mean think time between a client's operations (exponential), virtual ms. */
  readonly thinkMeanMs: number
  /** Fraction of operations that use `one` or `all` instead of `quorum`. */
  readonly weakFraction: number
  /** Faults the scheduler may choose from (empty: no faults, only the base network). */
  readonly faults: readonly FaultKind[]
  /** Mean gap between fault injections (exponential), virtual ms. */
  readonly faultGapMeanMs: number
  /** Base packet/message loss rate during the fault phase. */
  readonly lossRate: number
  /** Base duplication rate during the fault phase. */
  readonly duplicateRate: number
  /** Minimum one-way delay, ms. */
  readonly delayMinMs: number
  /** Mean of the exponential extra delay (reorders messages), ms. */
  readonly delayMeanExtraMs: number
  /** Largest initial wall-clock offset of a node, ± ms (0: one shared clock). */
  readonly clockSkewMaxMs: number
  /** Largest clock jump, ± ms. */
  readonly clockJumpMaxMs: number
  /** Mean disk commit latency (exponential, plus 0.2 ms), ms. */
  readonly diskLatencyMeanMs: number
  /** Commit latency multiplier of a slow disk. */
  readonly slowDiskFactor: number
  /** Coordinator deadline; replica calls time out at half of it (as the runtime). */
  readonly requestTimeoutMs: number
  /** Replication tick period, ms. */
  readonly tickMs: number
  /** Anti-entropy: each partition exchanged at most this often, ms. */
  readonly antiEntropyIntervalMs: number
  /** Shortest downtime of a crashed node, ms (must exceed backward clock jumps; see docs). */
  readonly downtimeMinMs: number
  /**
   * Persist the ownership set and start from it after a restart, as the runtime's
   * `cluster-state.json` does. Off reproduces the earlier runtime, where a node restarted inside
   * a minority partition joined that minority with a partial ownership set and coordinated with a
   * wrong placement (stale reads; see docs/simulation.md, findings).
   */
  readonly persistOwnership: boolean
  /**
   * Serf-style reconnect: every interval, each node joins the owners memberlist does not see
   * alive (the runtime's `reconnectIntervalMs`, default 10 s; 0: off). Without it a partition in which both sides declared
   * each other dead can leave the membership split for good (docs/simulation.md, findings).
   */
  readonly reconnectIntervalMs: number
  /**
   * Injected bug, for testing the checker: replicas acknowledge a write before it is durable
   * (the reply is sent at once, the commit happens later). Must produce lost writes.
   */
  readonly ackBeforePersist: boolean
}

/** Defaults: a small cluster with every fault kind, sized for CI. */
export const SIM_DEFAULTS: Omit<SimOptions, 'seed'> = {
  nodeCount: 5,
  durationMs: 20_000,
  convergeBoundMs: 60_000,
  partitionCount: 32,
  replicaCount: 3,
  clientCount: 4,
  keyCount: 12,
  thinkMeanMs: 60,
  weakFraction: 0.1,
  faults: FAULT_KINDS,
  faultGapMeanMs: 2_500,
  lossRate: 0.01,
  duplicateRate: 0.01,
  delayMinMs: 0.5,
  delayMeanExtraMs: 2,
  clockSkewMaxMs: 150,
  clockJumpMaxMs: 500,
  diskLatencyMeanMs: 2,
  slowDiskFactor: 50,
  requestTimeoutMs: 1_000,
  tickMs: 20,
  antiEntropyIntervalMs: 2_000,
  downtimeMinMs: 2_000,
  persistOwnership: true,
  reconnectIntervalMs: 10_000,
  ackBeforePersist: false,
}

/** Fills defaults. */
export function resolveSimOptions(input: Partial<SimOptions> & { seed: string }): SimOptions {
  const options = { ...SIM_DEFAULTS, ...input }
  if (options.nodeCount < 1 || options.nodeCount > 64) throw new RangeError('nodeCount 1..64')
  if (options.replicaCount < 1) throw new RangeError('replicaCount >= 1')
  return options
}

/** Draws every knob from the seed (swarm mode); `overrides` win (e.g. --nodes, --duration). */
export function swarmOptions(seed: string, overrides: Partial<SimOptions> = {}): SimOptions {
  const random = new SeededRandom(seed).fork('swarm')
  const pick = <T>(items: readonly T[]): T => items[random.intBelow(items.length)]!
  const faults = FAULT_KINDS.filter(() => random.chance(0.6))
  return resolveSimOptions({
    seed,
    nodeCount: pick([3, 4, 5, 5, 6, 7]),
    durationMs: pick([10_000, 20_000, 30_000]),
    partitionCount: pick([8, 16, 32, 64]),
    clientCount: 1 + random.intBelow(6),
    keyCount: pick([3, 8, 16, 40]),
    thinkMeanMs: pick([10, 50, 200]),
    weakFraction: pick([0, 0.1, 0.3]),
    faults,
    faultGapMeanMs: pick([800, 2_500, 6_000]),
    lossRate: pick([0, 0.01, 0.05]),
    duplicateRate: pick([0, 0.01, 0.05]),
    delayMeanExtraMs: pick([1, 5, 20]),
    clockSkewMaxMs: pick([0, 50, 300]),
    clockJumpMaxMs: pick([0, 200, 800]),
    diskLatencyMeanMs: pick([0.5, 2, 10]),
    slowDiskFactor: pick([10, 100]),
    antiEntropyIntervalMs: pick([1_000, 3_000]),
    ...overrides,
  })
}

/** Parses `60s`, `1500ms`, `2m` or a bare number of seconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (match === null) throw new RangeError(`not a duration: ${text}`)
  const value = Number(match[1])
  const unit = match[2] ?? 's'
  return Math.round(unit === 'ms' ? value : unit === 's' ? value * 1_000 : value * 60_000)
}
