/**
 * The deterministic whole-cluster simulator (issue 5, architecture §2 and §9): N Gossamer nodes
 * (`sim-node.ts`) in one process on virtual time, wired by a discrete-event queue, a simulated
 * network with faults, and simulated disks. One seed determines everything — workload, fault
 * schedule, timing — through `SeededRandom.fork(label)` streams, so the same seed yields the
 * same event transcript, byte for byte.
 *
 * A run has four phases, after TigerBeetle's VOPR:
 * 1. bootstrap: nodes start and join; the ownership set must converge (bounded);
 * 2. faults: clients run while faults are injected (`faults.ts`) for `durationMs`;
 * 3. heal: faults end, clients stop, crashed nodes restart; the cluster must converge within
 *    `convergeBoundMs` (views agree, every hand-off finished, hints delivered, and the replicas
 *    of every key under the FINAL placement agree);
 * 4. check: the recorded history and final state go through the history checker and the
 *    simulator's own checks (`checks.ts`).
 */
import { createHash } from 'node:crypto'
import { checkHistory, checkReplicasAgree, type Violation } from '../testing/history/checker.ts'
import type { HistorySummary, Operation } from '../testing/history/history.ts'
import {
  checkDeletesByVersion,
  collectReplicas,
  newestOf,
  orphanHints,
  pendingHandoffs,
  pendingHints,
  viewProblems,
} from './checks.ts'
import { EventQueue } from './event-queue.ts'
import { FaultScheduler } from './faults.ts'
import { SeededRandom } from './memberlist-parts.ts'
import { SimNetwork } from './network.ts'
import type { SimOptions } from './options.ts'
import { SIM_EPOCH_WALL_MS, SimNode } from './sim-node.ts'
import { SimTransport, type TransportStats } from './transport.ts'
import { Workload } from './workload.ts'

/** Events one run may process (a guard against livelock, far above what a run needs). */
const EVENT_BUDGET = 50_000_000
const BOOTSTRAP_BOUND_MS = 30_000
const CONVERGE_PROBE_MS = 250

/** A problem that is not a history violation: no convergence, a codec failure, a crash. */
export interface SimFailure {
  readonly kind: 'bootstrap' | 'not-converged' | 'codec' | 'exception'
  readonly message: string
}

/** Outcome of one run. */
export interface SimResult {
  readonly options: SimOptions
  readonly ok: boolean
  readonly violations: readonly Violation[]
  readonly failures: readonly SimFailure[]
  readonly history: HistorySummary
  readonly operations: readonly Operation[]
  /** Virtual ms from healing to convergence (undefined: did not converge). */
  readonly convergeMs: number | undefined
  readonly virtualMs: number
  readonly events: number
  readonly faults: Readonly<Record<string, number>>
  readonly transport: TransportStats
  readonly checked: { strongReads: number; acknowledgedWrites: number; finalKeys: number }
  /** The owners of the final placement (after joins and leaves). */
  readonly finalOwners: readonly string[]
  /** Rebalancing counters summed over the nodes. */
  readonly rebalance: {
    handoffRecords: number
    partitionsDropped: number
    partitionsDrained: number
    /** Hints left at the end for nodes that are no longer members (0: they are re-targeted). */
    orphanHints: number
    /** Hints re-targeted from departed nodes to the keys' current replicas. */
    hintsRetargeted: number
    /** Re-targeted hint copies dropped because a queue was full. */
    hintsDropped: number
  }
  /** SHA-256 of the event transcript (identical for identical seeds and options). */
  readonly logHash: string
  readonly log: readonly string[]
}

/** One simulated cluster run. */
export class ClusterSim {
  readonly options: SimOptions
  readonly queue = new EventQueue()
  readonly random: SeededRandom
  readonly network: SimNetwork
  readonly nodes = new Map<string, SimNode>()
  readonly transport: SimTransport
  readonly log: string[] = []
  readonly #isLogging: boolean

  constructor(options: SimOptions, settings: { isLogging?: boolean } = {}) {
    this.options = options
    this.#isLogging = settings.isLogging ?? true
    this.random = new SeededRandom(options.seed)
    this.network = new SimNetwork(this.random.fork('network'))
    this.transport = new SimTransport({
      queue: this.queue,
      network: this.network,
      nodes: this.nodes,
    })
    const skew = this.random.fork('clock-skew')
    const world = {
      options,
      queue: this.queue,
      random: this.random,
      log: (line: string) => this.record(line),
      sendGossip: this.transport.sendGossip.bind(this.transport),
      call: this.transport.call.bind(this.transport),
      addressOf: (name: string) => addressOf(name, options.nodeCount + options.spareNodeCount),
    }
    for (let i = 1; i <= options.nodeCount + options.spareNodeCount; i++) {
      const node = new SimNode(world, `n${i}`)
      node.clockOffsetMs = Math.round((skew.float() * 2 - 1) * options.clockSkewMaxMs)
      this.nodes.set(node.name, node)
      this.transport.register(node)
    }
  }

  /** Appends a transcript line stamped with virtual time. */
  record(line: string): void {
    this.log.push(`${this.queue.nowMs.toFixed(3)} ${line}`)
  }

  /** Runs all four phases and returns the verdict. */
  run(): SimResult {
    const failures: SimFailure[] = []
    const nodes = [...this.nodes.values()]
    const workload = new Workload({
      options: this.options,
      queue: this.queue,
      random: this.random.fork('workload'),
      nodes,
      log: (line) => this.record(line),
    })
    const faults = new FaultScheduler(
      {
        options: this.options,
        queue: this.queue,
        network: this.network,
        nodes,
        log: (line) => this.record(line),
        restart: (node) => this.#restart(node),
        join: (node) => this.#join(node),
        leave: (node) => node.leave(() => this.record(`${node.name} is out of the cluster`)),
      },
      this.random.fork('faults'),
    )
    let convergeMs: number | undefined
    try {
      if (!this.#bootstrap(nodes.slice(0, this.options.nodeCount))) {
        const problems = viewProblems(this.#members())
        failures.push({ kind: 'bootstrap', message: problems.slice(0, 5).join('; ') })
      } else {
        this.record(`phase faults for ${this.options.durationMs} ms`)
        faults.start()
        workload.start()
        this.queue.runUntil(this.queue.nowMs + this.options.durationMs, EVENT_BUDGET)
        workload.stop()
        faults.healAll()
        convergeMs = this.#converge(nodes, workload)
        if (convergeMs === undefined) {
          const problems = this.#convergenceProblems(nodes, workload)
          failures.push({ kind: 'not-converged', message: problems.slice(0, 8).join('; ') })
        }
      }
    } catch (error) {
      failures.push({ kind: 'exception', message: (error as Error).stack ?? String(error) })
    }
    return this.#verdict({ nodes, workload, faults, failures, convergeMs })
  }

  #bootstrap(nodes: readonly SimNode[]): boolean {
    this.record('phase bootstrap')
    for (const node of nodes) node.isMember = true
    const [first, ...rest] = nodes
    first?.boot([])
    rest.forEach((node, i) => {
      this.queue.at(10 * (i + 1), () => node.boot([first!.name]))
    })
    let isDone = false
    this.#probe(() => {
      isDone = nodes.every((n) => n.isReady && n.ownership.size === nodes.length)
      return isDone
    })
    return this.queue.runUntil(BOOTSTRAP_BOUND_MS, EVENT_BUDGET, () => isDone)
  }

  #restart(node: SimNode): void {
    this.record(`restart ${node.name}`)
    node.boot(this.#members().flatMap((n) => (n === node ? [] : [n.name])))
  }

  #join(node: SimNode): void {
    const seeds = this.#members().filter((n) => n.isUp)
    node.isMember = true
    node.boot(seeds.map((n) => n.name))
  }

  /** The nodes in the cluster now (see `SimNode.isMember`). */
  #members(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.isMember)
  }

  /** The placement every member agrees on once converged (the first member's before that). */
  #finalPlacement() {
    const members = this.#members()
    return (members.find((n) => n.isReady) ?? members[0] ?? [...this.nodes.values()][0]!).placement
  }

  /** Runs until converged or the bound; returns the time it took. */
  #converge(nodes: readonly SimNode[], workload: Workload): number | undefined {
    const startMs = this.queue.nowMs
    this.record('phase heal')
    let isDone = false
    this.#probe(() => {
      isDone = this.#convergenceProblems(nodes, workload).length === 0
      return isDone
    })
    const ok = this.queue.runUntil(
      startMs + this.options.convergeBoundMs,
      EVENT_BUDGET,
      () => isDone,
    )
    if (!ok) return undefined
    this.record(`converged after ${(this.queue.nowMs - startMs).toFixed(0)} ms`)
    return this.queue.nowMs - startMs
  }

  /** Re-evaluates `check` every probe period until it holds. */
  #probe(check: () => boolean): void {
    this.queue.after(CONVERGE_PROBE_MS, () => {
      if (!check()) this.#probe(check)
    })
  }

  #convergenceProblems(_nodes: readonly SimNode[], workload: Workload): string[] {
    const members = this.#members()
    const problems = viewProblems(members)
    if (problems.length > 0) return problems
    if (workload.inFlight > 0) return [`${workload.inFlight} client operations in flight`]
    const hints = pendingHints(members)
    if (hints > 0) return [`${hints} hints undelivered`]
    const handoffs = pendingHandoffs(members)
    if (handoffs.length > 0) return handoffs
    // TTLs: the final state is judged once every TTL has run out on every node's clock, so
    // each record is either certainly expired (and compares as absent) or has no TTL.
    const expiry = workload.latestExpiryMs
    if (expiry !== undefined && this.#expiredBeforeMs() < expiry) {
      return [`TTLs run until ${expiry}, every clock passes it at ${expiry + this.#clockBoundMs()}`]
    }
    const replicas = collectReplicas(this.nodes, this.#finalPlacement(), workload.keys)
    return checkReplicasAgree(replicas, { expiredBeforeMs: this.#expiredBeforeMs() }).map(
      (v) => v.message,
    )
  }

  /** Largest difference between a node's wall clock and `SIM_EPOCH_WALL_MS + virtual time`. */
  #clockBoundMs(): number {
    return this.options.clockSkewMaxMs + this.options.clockJumpMaxMs
  }

  /** A wall-clock time every node's clock has passed now. */
  #expiredBeforeMs(): number {
    return SIM_EPOCH_WALL_MS + this.queue.nowMs - this.#clockBoundMs()
  }

  #verdict(input: {
    nodes: readonly SimNode[]
    workload: Workload
    faults: FaultScheduler
    failures: SimFailure[]
    convergeMs: number | undefined
  }): SimResult {
    const { nodes, workload, failures } = input
    const operations = workload.history.operations
    // The FINAL placement: after joins and leaves, the keys' replicas are the final owners'.
    const placement = this.#finalPlacement()
    const replicas = collectReplicas(this.nodes, placement, workload.keys)
    const finalState = newestOf(replicas)
    const clocksDiffer = this.options.clockSkewMaxMs > 0 || this.options.clockJumpMaxMs > 0
    const result = checkHistory(operations, {
      finalState,
      realTimeDeletes: !clocksDiffer,
      // Node wall clock = SIM_EPOCH_WALL_MS + virtual time + offset, |offset| <= skew + jump.
      wallClock: { offsetMs: SIM_EPOCH_WALL_MS, uncertaintyMs: this.#clockBoundMs() },
      finalAtMs: this.queue.nowMs,
    })
    const violations = [
      ...result.violations,
      ...checkDeletesByVersion(operations, finalState),
      ...(input.convergeMs === undefined
        ? []
        : checkReplicasAgree(replicas, { expiredBeforeMs: this.#expiredBeforeMs() })),
    ]
    if (this.transport.stats.codecErrors > 0) {
      failures.push({ kind: 'codec', message: this.transport.codecErrorDetails.join('; ') })
    }
    this.record(`verdict violations=${violations.length} failures=${failures.length}`)
    return {
      options: this.options,
      ok: violations.length === 0 && failures.length === 0,
      violations,
      failures,
      history: workload.history.summary(),
      operations,
      convergeMs: input.convergeMs,
      virtualMs: this.queue.nowMs,
      events: this.queue.firedCount,
      faults: Object.fromEntries(input.faults.counts),
      transport: { ...this.transport.stats },
      checked: result.checked,
      finalOwners: placement.owners,
      rebalance: {
        handoffRecords: sum(nodes, (n) => n.stats.handoffRecords),
        partitionsDropped: sum(nodes, (n) => n.stats.partitionsDropped),
        partitionsDrained: sum(nodes, (n) => n.stats.partitionsDrained),
        orphanHints: orphanHints(this.#members()),
        hintsRetargeted: sum(nodes, (n) => n.stats.hintsRetargeted),
        hintsDropped: sum(nodes, (n) => n.stats.hintsDropped),
      },
      logHash: createHash('sha256').update(this.log.join('\n')).digest('hex'),
      log: this.#isLogging ? this.log : [],
    }
  }
}

/** Runs one simulation. */
export function runSimulation(
  options: SimOptions,
  settings: { isLogging?: boolean } = {},
): SimResult {
  return new ClusterSim(options, settings).run()
}

function sum(nodes: readonly SimNode[], of: (node: SimNode) => number): number {
  return nodes.reduce((total, node) => total + of(node), 0)
}

function addressOf(name: string, nodeCount: number): { ip: Uint8Array; port: number } {
  const index = Number(name.slice(1))
  if (!Number.isInteger(index) || index < 1 || index > nodeCount) {
    throw new RangeError(`unknown sim node ${name}`)
  }
  return { ip: Uint8Array.of(10, 0, (index >> 8) & 255, index & 255), port: 7946 }
}
