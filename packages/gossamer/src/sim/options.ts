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
  /**
   * A node outside the cluster (a spare never started, or one that left) joins the running
   * cluster with its store: partitions move to it (rebalancing).
   */
  | 'join'
  /** A member leaves gracefully: it hands its partitions off, is removed, and stops. */
  | 'leave'

/** The fault kinds that break things (network, processes, clocks, disks). */
export const FAILURE_KINDS: readonly FaultKind[] = [
  'isolate',
  'split',
  'asymmetric',
  'crash',
  'power-loss',
  'clock-jump',
  'slow-disk',
  'lossy',
]

/** Ownership changes: the events that make partitions move. */
export const MEMBERSHIP_KINDS: readonly FaultKind[] = ['join', 'leave']

/** Every fault kind. */
export const FAULT_KINDS: readonly FaultKind[] = [...FAILURE_KINDS, ...MEMBERSHIP_KINDS]

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
  /**
   * Nodes created outside the cluster (named after the `nodeCount` members), which `join`
   * events bring in. A node that left gracefully may join again as well.
   */
  readonly spareNodeCount: number
  /** A leave is not started when it would leave fewer members than this. */
  readonly minMembers: number
  /** `ClusterRuntime.leave`'s bound on the hand-off wait, ms. */
  readonly leaveTimeoutMs: number
  /** Fraction of puts that carry a TTL (the API's `?ttl=`). */
  readonly ttlFraction: number
  /** TTLs are drawn uniformly from [ttlMinMs, ttlMaxMs]. */
  readonly ttlMinMs: number
  readonly ttlMaxMs: number
  /**
   * Fraction of puts that are conditional: half `If-None-Match: *`, half `If-Match` with the
   * version the client last read (or was acknowledged) for the key.
   */
  readonly conditionalFraction: number
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
  spareNodeCount: 1,
  minMembers: 3,
  leaveTimeoutMs: 60_000,
  ttlFraction: 0.1,
  ttlMinMs: 100,
  ttlMaxMs: 3_000,
  conditionalFraction: 0.1,
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
  if (options.spareNodeCount < 0 || options.nodeCount + options.spareNodeCount > 64) {
    throw new RangeError('nodeCount + spareNodeCount 1..64')
  }
  if (options.ttlMinMs < 1 || options.ttlMaxMs < options.ttlMinMs) {
    throw new RangeError('1 <= ttlMinMs <= ttlMaxMs')
  }
  return options
}

/** Draws every knob from the seed (swarm mode); `overrides` win (e.g. --nodes, --duration). */
export function swarmOptions(seed: string, overrides: Partial<SimOptions> = {}): SimOptions {
  const random = new SeededRandom(seed).fork('swarm')
  const pick = <T>(items: readonly T[]): T => items[random.intBelow(items.length)]!
  // Draw order matters: knobs added later are drawn after the earlier ones, so an old swarm
  // seed keeps its old draws (regression seeds stay meaningful).
  const failureKinds = FAILURE_KINDS.filter(() => random.chance(0.6))
  const drawn = {
    seed,
    nodeCount: pick([3, 4, 5, 5, 6, 7]),
    durationMs: pick([10_000, 20_000, 30_000]),
    partitionCount: pick([8, 16, 32, 64]),
    clientCount: 1 + random.intBelow(6),
    keyCount: pick([3, 8, 16, 40]),
    thinkMeanMs: pick([10, 50, 200]),
    weakFraction: pick([0, 0.1, 0.3]),
    faults: failureKinds,
    faultGapMeanMs: pick([800, 2_500, 6_000]),
    lossRate: pick([0, 0.01, 0.05]),
    duplicateRate: pick([0, 0.01, 0.05]),
    delayMeanExtraMs: pick([1, 5, 20]),
    clockSkewMaxMs: pick([0, 50, 300]),
    clockJumpMaxMs: pick([0, 200, 800]),
    diskLatencyMeanMs: pick([0.5, 2, 10]),
    slowDiskFactor: pick([10, 100]),
    antiEntropyIntervalMs: pick([1_000, 3_000]),
  }
  const membershipKinds = MEMBERSHIP_KINDS.filter(() => random.chance(0.5))
  return resolveSimOptions({
    ...drawn,
    faults: [...failureKinds, ...membershipKinds],
    spareNodeCount: pick([0, 1, 1, 2]),
    ttlFraction: pick([0, 0.1, 0.3]),
    conditionalFraction: pick([0, 0.1, 0.3]),
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
