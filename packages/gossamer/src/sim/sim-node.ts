/**
 * One simulated Gossamer node: the production cores bound to the simulator instead of sockets,
 * timers and LMDB (architecture §2, "a simulated driver binds the same core to a simulated
 * network and clock"). It mirrors the real runtime (`src/cluster/runtime/`):
 *
 * - membership: a `MemberlistCore` whose delegates spread the ownership CRDT
 *   (`cluster/ownership.ts`) as broadcast deltas and push/pull state, like `membership.ts`;
 * - placement from the ownership set's members (`ring/partitioner.ts`);
 * - replication: `WriteCoordinator` / `ReadCoordinator` per client request, the replica
 *   handlers, `HintedHandoff` over a durable `MemoryHintStore`, `AntiEntropy`, ticked every
 *   `tickMs`, with the runtime's call timeouts and clock-skew rules;
 * - storage: a `MemoryEngine` that holds only what is durable. Writes go through a simulated
 *   disk with a commit latency; replies that must follow a write are sent only after the commit
 *   (persist, then send). A crash drops every commit still in flight, so writes that were never
 *   acknowledged may be lost, acknowledged ones never — unless the `ackBeforePersist` bug switch
 *   is on;
 * - a wall clock per node (virtual time + an offset that faults skew and jump) feeding the HLC;
 * - rebalancing, as `replication-driver.ts` and `cluster-runtime.ts` drive it: when the member
 *   names of the ownership set change, the new placement is applied together with the one the
 *   data is laid out by (`planRebalance` → `Rebalance`); receivers pull pages
 *   (`handoff-request` / `answerHandoffRequest`), persist them, and tell the old replicas
 *   (`handoff-done`, widened to every non-replica owner), which then drop the partition from
 *   the engine (`dropPartitionSync`, through the simulated disk); receivers stream from a read
 *   quorum of the old replicas, a replica still streaming a partition in answers gets with the
 *   newest of its copy and a read quorum of the old replicas' (`routeGet`), a node that does
 *   not hold a partition refuses gets and replica puts for it (`handlePut` answers `refused`),
 *   and a hand-off stuck for longer than
 *   the runtime's wait is drained by plain puts. A node that joins with an empty store (or
 *   after having been removed) streams its partitions in; one restarting on its data plans
 *   from its persisted ownership set (`ownersBeforeStart`). Receivers stream from the leaving
 *   owners too (`holders`), then from the other owners (`owners`), a source whose copy may
 *   be incomplete says so on its pages (`handoffSourceIsPartial`), and a source that places
 *   the partition on other replicas than the receiver refuses (the hand-off fence,
 *   `handoffSourceRefusal`), the receiver then pushing/pulling ownership state with it;
 * - graceful leave (`leave`), as `ClusterRuntime.leave`: mark `leaving`, wait (bounded by
 *   `leaveTimeoutMs`) until every outbound hand-off is done and every hint delivered, mark
 *   `removed`, leave memberlist, stop.
 *
 * A crash bumps `epoch`: every callback of the old process (timers, disk commits, replies in
 * flight) checks it and is dropped. Restart rebuilds the in-memory state from the durable parts
 * (engine, hint store) with a fresh HLC and ownership view, then rejoins, as a real restart does.
 */
import type { Address, CoreOutput, Delegates, MemberlistCore } from '@gossamer/memberlist'
import { MemberlistCore as Core, resolveConfig } from '@gossamer/memberlist'
import {
  decodeOwnership,
  encodeOwnership,
  isOwnerIn,
  joinOwnership,
  leaveOwnership,
  members,
  mergeOwnership,
  namesInState,
  type OwnershipSet,
  pickOwnership,
  removeOwnership,
  wouldChange,
} from '../cluster/ownership.ts'
import { ownershipSyncTargets } from '../cluster/ownership-sync.ts'
import { enginePartitionView, type PartitionView } from '../cluster/runtime/partition-index.ts'
import { commitWaitMs, isOnlyCoordinator } from '../hlc/commit-wait.ts'
import { HybridLogicalClock } from '../hlc/hlc.ts'
import { compareVersions } from '../hlc/version.ts'
import { AntiEntropy } from '../replication/anti-entropy.ts'
import type { Consistency } from '../replication/consistency.ts'
import {
  type CoordinatorStep,
  ReadCoordinator,
  type ReadResult,
  refusalRetryDelayMs,
  WriteCoordinator,
  type WriteResult,
} from '../replication/coordinator.ts'
import { HashTree, scanPartitionEntries } from '../replication/hash-tree.ts'
import { HintedHandoff, type HintWrite, MemoryHintStore } from '../replication/hinted-handoff.ts'
import type {
  AfterPersist,
  GetMessage,
  HandoffRequestMessage,
  KeyedRecord,
  Outgoing,
  PutMessage,
  ReplicationMessage,
} from '../replication/messages.ts'
import {
  answerHandoffRequest,
  ownersBeforeStart,
  planRebalance,
  Rebalance,
  type RebalanceStep,
} from '../replication/rebalance.ts'
import {
  handleGet,
  handleHintDeliver,
  handlePut,
  handoffSourceIsPartial,
  handoffSourceRefusal,
  type PartitionHolding,
  putReplyAfterWrite,
  routeGet,
} from '../replication/replica.ts'
import { computePlacement, type Placement, partitionOf } from '../ring/partitioner.ts'
import type { StoredRecord, WriteCondition, WriteEntry, WriteOutcome } from '../storage/engine.ts'
import { MemoryEngine } from '../storage/memory-engine.ts'
import type { EventQueue } from './event-queue.ts'
import type { SeededRandom } from './memberlist-parts.ts'
import type { SimOptions } from './options.ts'

/** Virtual time 0 is this wall-clock instant (Unix ms), so versions look like real ones. */
export const SIM_EPOCH_WALL_MS = 1_700_000_000_000

/** Largest skew a replica accepts (the HLC's `maxSkewMs`, as in the runtime's default). */
const MAX_CLOCK_SKEW_MS = 60_000
const TOMBSTONE_GRACE_MS = 864_000_000
const BROADCAST_QUEUE_MAX = 256
const RETRANSMIT_MULT = 4
/** The runtime's drain check period and bound (`replication-driver.ts`). */
const DRAIN_CHECK_MS = 200
const DRAINS_MAX = 8
/** Request ids from here on mark a forwarded `get` (as the driver's `FORWARDED_ID_BASE`). */
const FORWARDED_ID_BASE = 2 ** 52
/** `ClusterRuntime.leave` polls the hand-off this often. */
const LEAVE_POLL_MS = 50
/** `ClusterRuntime.leave` gives the removal this long before leaving memberlist (LAN preset). */
const LEAVE_GOSSIP_MS = 1_000
/** `ClusterRuntime.leave` retries pushing its removal this often. */
const REMOVAL_PUSH_RETRY_MS = 500

/** What a node needs from the simulated world. */
export interface SimWorld {
  readonly options: SimOptions
  readonly queue: EventQueue
  readonly random: SeededRandom
  log(line: string): void
  sendGossip(from: SimNode, output: CoreOutput): void
  /** An RPC: exactly one of `onReply` / `onFailure` runs, unless the caller crashed. */
  call(
    from: SimNode,
    to: string,
    message: ReplicationMessage,
    timeoutMs: number,
    handlers: {
      onReply(reply: ReplicationMessage | undefined): void
      onFailure(why: string, answered?: boolean): void
    },
  ): void
  addressOf(name: string): Address
}

/** Answer of a request handler: a reply, or a failure the caller sees as an RPC error. */
export interface Responder {
  reply(message: ReplicationMessage | undefined): void
  fail(why: string): void
}

interface QueuedBroadcast {
  readonly names: readonly string[]
  readonly payload: Uint8Array
  transmitsLeft: number
}

interface PendingRequest<R> {
  readonly core: { tick(nowMs: number): CoordinatorStep<R>; readonly isSettled: boolean }
  readonly done: (result: R) => void
  isDone: boolean
}

/** Counters of one node (summed into the run summary). */
export interface SimNodeStats {
  /** Disk transactions (group commits). */
  commits: number
  /** Requests coordinated again after a replica refused them (`refusalRetryDelayMs`). */
  refusalRetries: number
  /** Writes lost in a crash before they were committed. */
  droppedWrites: number
  skewRefusals: number
  readRepairs: number
  /** Records persisted from hand-off pages. */
  handoffRecords: number
  partitionsDropped: number
  /** Partitions an old replica copied to the new replicas itself (stuck hand-off). */
  partitionsDrained: number
  /** Hints moved off a node that left the ownership set to the key's current replicas. */
  hintsRetargeted: number
  /** Re-targeted hint copies a full queue refused (dropped). */
  hintsDropped: number
}

/** One simulated node. See the module header. */
export class SimNode {
  readonly name: string
  readonly address: Address
  /** Durable data: survives crashes. Keeps a partition index, so partitions can be dropped. */
  readonly engine: MemoryEngine
  /** Durable hints: survive crashes. */
  readonly hintStore = new MemoryHintStore()
  /**
   * The persisted cluster state (the runtime's `cluster-state.json`): the ownership set, written
   * on every change once joined, read at restart. Survives crashes. Off: `persistOwnership`.
   */
  persistedOwnership: OwnershipSet | undefined
  readonly stats: SimNodeStats = {
    commits: 0,
    refusalRetries: 0,
    droppedWrites: 0,
    skewRefusals: 0,
    readRepairs: 0,
    handoffRecords: 0,
    partitionsDropped: 0,
    partitionsDrained: 0,
    hintsRetargeted: 0,
    hintsDropped: 0,
  }
  epoch = 0
  isUp = false
  joined = false
  /**
   * Part of the cluster as the simulator sees it: booted at bootstrap or by a `join` event,
   * until a graceful leave completes (a crashed member is still one: it will restart).
   */
  isMember = false
  /** A graceful leave is under way (see `leave`). */
  isLeaving = false
  core!: MemberlistCore
  ownership: OwnershipSet = new Map()
  placement!: Placement
  hints!: HintedHandoff
  aae!: AntiEntropy
  rebalance!: Rebalance
  hlc!: HybridLogicalClock
  /** Wall clock = virtual time + this offset (skew and jumps). */
  clockOffsetMs = 0
  /** Commit latency multiplier (slow disk). */
  diskFactor = 1
  readonly #world: SimWorld
  #random!: SeededRandom
  #broadcasts: QueuedBroadcast[] = []
  #writes = new Map<number, PendingRequest<WriteResult>>()
  #reads = new Map<number, PendingRequest<ReadResult>>()
  #nextRequestId = 1
  #isDiskBusy = false
  #inFlightBatch: Array<{ readonly write: () => void; readonly afterCommit: () => void }> = []
  #nextBatch: Array<{ readonly write: () => void; readonly afterCommit: () => void }> = []
  #gossipTickAtMs: number | undefined
  readonly #partitions: PartitionView
  // The placement last applied to replication (the runtime's `#applied`).
  #applied: Placement | undefined
  #storeWasEmpty = true
  #persistedOwners: readonly string[] | undefined
  #rejoinedAfterRemoval = false
  readonly #handOffSinceMs = new Map<number, number>()
  // Hand-off requests waiting for the writes this node took before it applied its current
  // placement to commit (`#barrierAfterPlacement`); undefined when nothing waits for a commit.
  #placementCommit: Array<() => void> | undefined
  #placementGeneration = 0
  readonly #draining = new Set<number>()
  #nextDrainCheckMs = 0
  #onGone: (() => void) | undefined

  constructor(world: SimWorld, name: string) {
    this.#world = world
    this.name = name
    this.address = world.addressOf(name)
    const { partitionCount } = world.options
    this.engine = new MemoryEngine({
      partitionIndex: { partitionCount, partitionOf: (key) => partitionOf(key, partitionCount) },
    })
    this.#partitions = enginePartitionView(this.engine)
  }

  /** This node's wall clock, Unix ms (what the HLC and the replication cores see). */
  wallMs(): number {
    return SIM_EPOCH_WALL_MS + this.#world.queue.nowMs + this.clockOffsetMs
  }

  /** Whether `name` can be sent to: ourselves, or alive or suspect in our membership view. */
  readonly isReachable = (name: string): boolean => {
    if (name === this.name) return this.isUp
    const state = this.core.node(name)?.state
    return state === 'alive' || state === 'suspect'
  }

  /** Whether `name` is in the ownership set: a member, or leaving (the runtime's `isOwner`). */
  readonly #isOwner = (name: string): boolean => isOwnerIn(this.ownership, name)

  /** Whether clients may use this node as a coordinator (up and joined, as the runtime). */
  get isReady(): boolean {
    return this.isUp && this.joined
  }

  /** Starts (or restarts) the process and joins `seeds` (none: it starts a cluster). */
  boot(seeds: readonly string[]): void {
    const world = this.#world
    const { options } = world
    this.isUp = true
    this.isLeaving = false
    this.#random = world.random.fork(`driver:${this.name}:${this.epoch}`)
    const persisted = options.persistOwnership ? (this.persistedOwnership ?? new Map()) : new Map()
    const mine = persisted.get(this.name)
    // As `Membership`: a node the cluster had removed (or that was leaving) joins again as a
    // new owner and streams its partitions in instead of trusting its old copy.
    this.#rejoinedAfterRemoval = mine !== undefined && mine.state !== 'member'
    this.ownership = mine?.state === 'member' ? persisted : joinOwnership(persisted, this.name)
    // The ownership set the data is laid out by (`ownersBeforeStart`), when a member there.
    this.#persistedOwners = mine?.state === 'member' ? members(persisted) : undefined
    this.#storeWasEmpty = this.engine.stats().keyCount === 0
    this.#applied = undefined
    this.#handOffSinceMs.clear()
    this.#draining.clear()
    this.#lastSyncMs = new Map()
    this.#nextDrainCheckMs = 0
    this.#broadcasts = []
    this.#placement()
    this.hints = new HintedHandoff({ deliveryTimeoutMs: options.requestTimeoutMs })
    this.hints.restore(this.hintStore.list())
    this.aae = this.#makeAntiEntropy()
    this.rebalance = new Rebalance({
      self: this.name,
      config: { requestTimeoutMs: options.requestTimeoutMs },
    })
    this.hlc = new HybridLogicalClock({
      nodeId: this.name,
      wallClockMs: () => this.wallMs(),
      maxSkewMs: MAX_CLOCK_SKEW_MS,
    })
    const config = resolveConfig(
      { name: this.name, advertiseAddr: this.address.ip, deadNodeReclaimTimeMs: 1 },
      'sim',
    )
    this.core = new Core(
      {
        clock: { nowMs: () => world.queue.nowMs },
        random: world.random.fork(`memberlist:${this.name}:${this.epoch}`),
        delegates: this.#delegates(),
      },
      config,
    )
    this.afterCall()
    this.joined = seeds.length === 0
    if (seeds.length > 0) this.#join(seeds)
    else this.#onOwnershipChange()
    this.#scheduleTick()
    this.#scheduleReconnect()
  }

  /**
   * Serf-style reconnect (option `reconnectIntervalMs`; the runtime has none yet): every
   * interval, a joined node pushes/pulls with the owners memberlist does not see alive, so two
   * sides that declared each other dead during a partition find each other again after it.
   */
  #scheduleReconnect(): void {
    const intervalMs = this.#world.options.reconnectIntervalMs
    if (intervalMs <= 0) return
    const jitterMs = this.#random.float() * intervalMs * 0.25
    this.#world.queue.after(
      intervalMs + jitterMs,
      this.guard(() => {
        const lost = members(this.ownership).filter((name) => !this.isReachable(name))
        if (this.joined && lost.length > 0) {
          this.core.join(lost.map((name) => this.#world.addressOf(name)))
          this.afterCall()
        }
        this.#scheduleReconnect()
      }),
    )
  }

  /** Kills the process: in-memory state and un-committed writes are gone. */
  crash(): void {
    if (!this.isUp) return
    this.isUp = false
    this.joined = false
    this.isLeaving = false
    this.#onGone = undefined
    // A restarted core numbers its joins from the start again: a removal push still pending
    // here would claim the boot join's completion (swarm seed 6011: the node never joined).
    this.#removalPush = undefined
    this.epoch++
    this.core.shutdown()
    this.stats.droppedWrites += this.#inFlightBatch.length + this.#nextBatch.length
    this.#inFlightBatch = []
    this.#nextBatch = []
    this.#isDiskBusy = false
    this.#placementCommit = undefined
    this.#gossipTickAtMs = undefined
    this.#writes = new Map()
    this.#reads = new Map()
  }

  /** A guard for callbacks: runs `fn` only if this process is still the one that asked. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    const epoch = this.epoch
    return (...args: A) => {
      if (this.isUp && this.epoch === epoch) fn(...args)
    }
  }

  // ---- membership ----

  /** Drains the memberlist core's outputs and re-arms its timer (after every call into it). */
  afterCall(): void {
    if (!this.isUp) return
    for (const output of this.core.takeOutputs()) this.#onGossipOutput(output)
    const deadline = this.core.nextDeadlineMs()
    if (deadline === undefined) return
    if (this.#gossipTickAtMs !== undefined && this.#gossipTickAtMs <= deadline) return
    this.#gossipTickAtMs = deadline
    // A tick that fires early is harmless (the core fires only what is due); a stale one that
    // fires after a newer deadline was armed just re-arms.
    this.#world.queue.at(
      deadline,
      this.guard(() => {
        this.#gossipTickAtMs = undefined
        this.core.tick()
        this.afterCall()
      }),
    )
  }

  #onGossipOutput(output: CoreOutput): void {
    switch (output.kind) {
      case 'packet':
      case 'stream':
        this.#world.sendGossip(this, output)
        return
      case 'event': {
        const { type, node } = output.event
        this.#world.log(`${this.name} member ${type} ${node.name} ${node.state}`)
        if (node.name === this.name) return
        this.hints.setReachable(node.name, node.state === 'alive' || node.state === 'suspect')
        return
      }
      case 'joinComplete':
        this.#onJoinComplete(output.joinId, output.successCount)
        return
      case 'leaveComplete':
        this.#stopAfterLeave()
        return
      default:
        return
    }
  }

  #join(seeds: readonly string[]): void {
    this.#joinSeeds = seeds
    this.#bootJoinId = this.core.join(seeds.map((name) => this.#world.addressOf(name)))
    this.afterCall()
  }

  #joinSeeds: readonly string[] = []
  #bootJoinId = -1

  #onJoinComplete(joinId: number, successCount: number): void {
    if (joinId === this.#removalPush?.joinId) {
      this.#onRemovalPushed(successCount)
      return
    }
    if (joinId !== this.#bootJoinId) {
      if (successCount > 0) this.#world.log(`${this.name} reconnected to ${successCount} owner(s)`)
      return
    }
    if (successCount === 0) {
      const retryMs = 500 + this.#random.intBelow(500)
      this.#world.queue.after(
        retryMs,
        this.guard(() => this.#join(this.#joinSeeds)),
      )
      return
    }
    this.joined = true
    this.#world.log(`${this.name} joined via ${successCount} seed(s)`)
    if (this.ownership.get(this.name)?.state !== 'member') {
      this.#rejoinedAfterRemoval = true
      this.#changeOwnership(joinOwnership(this.ownership, this.name), [this.name])
    }
    this.#queueBroadcast([this.name])
    this.#persistOwnership()
    this.#onOwnershipChange()
  }

  #persistOwnership(): void {
    if (this.joined && this.#world.options.persistOwnership)
      this.persistedOwnership = this.ownership
  }

  #delegates(): Delegates {
    return {
      notifyMsg: (payload) => this.#mergeOwnershipFrom(payload),
      getBroadcasts: (overheadBytes, limitBytes) => this.#takeBroadcasts(overheadBytes, limitBytes),
      localState: () => encodeOwnership(this.ownership),
      mergeRemoteState: (state) => this.#mergeOwnershipFrom(state),
    }
  }

  #mergeOwnershipFrom(payload: Uint8Array): void {
    const decoded = decodeOwnership(payload)
    if (!decoded.ok || !wouldChange(this.ownership, decoded.value)) return
    const changed = [...decoded.value].filter(([name, theirs]) => {
      const mine = this.ownership.get(name)
      return mine === undefined || mine.version !== theirs.version || mine.state !== theirs.state
    })
    this.#changeOwnership(
      mergeOwnership(this.ownership, decoded.value),
      changed.map(([name]) => name),
    )
  }

  #changeOwnership(next: OwnershipSet, names: readonly string[]): void {
    if (!wouldChange(this.ownership, next)) return
    this.ownership = mergeOwnership(this.ownership, next)
    // memberlist does not re-gossip user broadcasts: a node that learns something re-broadcasts.
    this.#queueBroadcast(names)
    this.#persistOwnership()
    this.#onOwnershipChange()
  }

  #queueBroadcast(names: readonly string[]): void {
    const delta = pickOwnership(this.ownership, names)
    if (delta.size === 0) return
    this.#broadcasts = this.#broadcasts.filter((b) => !b.names.every((n) => names.includes(n)))
    const transmits =
      RETRANSMIT_MULT * Math.max(1, Math.ceil(Math.log10(this.core.numMembers() + 1)))
    this.#broadcasts.push({ names, payload: encodeOwnership(delta), transmitsLeft: transmits })
    while (this.#broadcasts.length > BROADCAST_QUEUE_MAX) this.#broadcasts.shift()
  }

  #takeBroadcasts(overheadBytes: number, limitBytes: number): Uint8Array[] {
    const out: Uint8Array[] = []
    let used = 0
    for (const broadcast of this.#broadcasts) {
      const cost = overheadBytes + broadcast.payload.length
      if (used + cost > limitBytes) continue
      used += cost
      out.push(broadcast.payload)
      broadcast.transmitsLeft -= 1
    }
    this.#broadcasts = this.#broadcasts.filter((b) => b.transmitsLeft > 0)
    return out
  }

  #placement(): void {
    const owners = members(this.ownership)
    if (this.placement !== undefined && sameNames(this.placement.owners, owners)) return
    this.placement = this.#compute(owners)
  }

  #compute(owners: readonly string[]): Placement {
    const { partitionCount, replicaCount } = this.#world.options
    return computePlacement(owners, { partitionCount, replicaCount })
  }

  /** The runtime's `#onMembershipChange`: recompute placement; once joined, apply it. */
  #onOwnershipChange(): void {
    if (!this.isUp) return
    this.#placement()
    if (!this.joined || this.#applied === this.placement) return
    const previous = this.#previousFor(members(this.ownership))
    this.#applyPlacement(this.placement, previous)
    this.#applied = this.placement
  }

  /** The runtime's `#previousFor`: the placement the data is laid out by. */
  #previousFor(owners: readonly string[]): Placement | undefined {
    if (this.#applied !== undefined) return this.#applied
    const before = ownersBeforeStart({
      self: this.name,
      owners,
      storeWasEmpty: this.#storeWasEmpty,
      rejoinedAfterRemoval: this.#rejoinedAfterRemoval,
      persistedOwners: this.#persistedOwners,
    })
    if (before === undefined) return undefined
    if (this.#storeWasEmpty) this.aae.scheduleAll(this.wallMs())
    return this.#compute(before)
  }

  /** The driver's `applyPlacement`: anti-entropy partitions, then the rebalance plan. */
  #applyPlacement(next: Placement, previous: Placement | undefined): void {
    this.#barrierAfterPlacement()
    const partitions: Array<{ partition: number; peers: string[] }> = []
    for (let partition = 0; partition < next.partitionCount; partition++) {
      const replicas = next.preferenceList(partition)
      if (!replicas.includes(this.name) || replicas.length < 2) continue
      partitions.push({ partition, peers: replicas.filter((node) => node !== this.name) })
    }
    this.aae.setPartitions(partitions)
    if (previous === undefined) return
    const plan = planRebalance({
      partitionCount: next.partitionCount,
      oldReplicas: (p) => previous.preferenceList(p),
      newReplicas: (p) => next.preferenceList(p),
    })
    // Never drop data when the new placement has no replicas at all (the last owner left).
    const safePlan = {
      moves: plan.moves,
      drops: plan.drops.filter((d) => next.preferenceList(d.partition).length > 0),
    }
    this.#world.log(
      `${this.name} placement ${next.owners.join(',')}: ${plan.moves.filter((m) => m.to === this.name).length} in, ${plan.drops.filter((d) => d.node === this.name).length} out`,
    )
    this.#runRebalance(
      this.rebalance.applyPlan(safePlan, {
        newReplicas: (p) => next.preferenceList(p),
        holders: namesInState(this.ownership, 'leaving'),
        owners: next.owners,
      }),
    )
  }

  /**
   * The driver's placement barrier: hand-off pages are served only once every write this node
   * took before it applied the placement now in force has committed. A replica put decided under
   * the older placement (from a coordinator on the old view, before this node learnt the change)
   * may still be committing when the first page is read; the pass would miss it, and the put is
   * acknowledged once it commits (the hand-off fence passes by then). A no-op commit queued now
   * completes after every write queued before it (batches commit in order).
   */
  #barrierAfterPlacement(): void {
    if (this.#inFlightBatch.length + this.#nextBatch.length === 0) return
    const generation = ++this.#placementGeneration
    this.#placementCommit ??= []
    this.#commit(
      () => {},
      () => {
        if (generation !== this.#placementGeneration) return // a later placement's barrier
        const waiting = this.#placementCommit ?? []
        this.#placementCommit = undefined
        for (const serve of waiting) serve()
      },
    )
  }

  /** Partitions this node still hands off (the driver's `outboundPending`). */
  outboundPending(): number {
    let count = 0
    for (let p = 0; p < this.placement.partitionCount; p++) {
      if (this.rebalance.stateOf(p) === 'handing-off') count += 1
    }
    return count
  }

  /** Inbound hand-offs not finished (the driver's `inboundPending`). */
  inboundPending(): number {
    let count = 0
    for (let p = 0; p < this.placement.partitionCount; p++) {
      const state = this.rebalance.stateOf(p)
      if (state === 'pending' || state === 'receiving') count += 1
    }
    return count
  }

  // ---- rebalancing (the driver's #runRebalance and friends) ----

  #runRebalance(step: RebalanceStep): void {
    if (step.drop.length > 0) this.#drop(step.drop)
    for (const out of step.send) this.#sendRebalance(out)
    for (const after of step.persist) {
      this.stats.handoffRecords += after.entries.length
      this.#persist(after.entries, () => {
        for (const out of this.#widenHandoffDone(after.thenSend)) this.#sendRebalance(out)
        this.rebalance.onPersisted(after.page)
      })
    }
  }

  #widenHandoffDone(sends: AfterPersist['thenSend']): Outgoing[] {
    const placement = this.#applied ?? this.placement
    const out: Outgoing[] = []
    for (const send of sends) {
      if (send.message.type !== 'handoff-done') {
        out.push(send)
        continue
      }
      const replicas = placement.preferenceList(send.message.partition)
      const targets = new Set([send.to])
      for (const owner of placement.owners) if (!replicas.includes(owner)) targets.add(owner)
      targets.delete(this.name)
      for (const to of targets) out.push({ to, message: send.message })
    }
    return out
  }

  #sendRebalance(out: Outgoing): void {
    this.#send(out, {
      onReply: (reply) => {
        if (reply?.type !== 'handoff-batch') return
        const batch = { ...reply, entries: this.#withoutSkewed(reply.entries) }
        this.#runRebalance(this.rebalance.onBatch(out.to, batch, this.wallMs()))
      },
      onFailure: (_why, answered) => {
        if (out.message.type !== 'handoff-request') return
        this.rebalance.onFailure(out.to)
        // As the driver: a source that refused (not joined, or on another view of the
        // partition's replicas) and this node push/pull ownership state now.
        if (answered === true) this.#syncOwnershipWith([out.to])
      },
    })
  }

  #drop(partitions: readonly number[]): void {
    for (const partition of partitions) {
      this.#world.log(`${this.name} drops partition ${partition}`)
      this.#commit(
        () => {
          // Bounded: each round removes up to 1000 records of one finite partition.
          for (let round = 0; round < 100_000; round++) {
            if (this.engine.dropPartitionSync({ partition, limit: 1_000 }).done) break
          }
          this.stats.partitionsDropped++
        },
        () => {},
      )
    }
  }

  // The driver's #drainStuckHandOffs: after the hand-off wait, copy the partition to its
  // current replicas with plain puts and drop it once every copy is acknowledged.
  #drainStuckHandOffs(nowMs: number): void {
    const placement = this.#applied
    if (placement === undefined) return
    const waitMs = Math.max(10_000, 2 * this.#world.options.requestTimeoutMs)
    for (let p = 0; p < placement.partitionCount; p++) {
      if (this.rebalance.stateOf(p) !== 'handing-off') {
        this.#handOffSinceMs.delete(p)
        continue
      }
      const since = this.#handOffSinceMs.get(p)
      if (since === undefined) this.#handOffSinceMs.set(p, nowMs)
      else if (
        nowMs - since >= waitMs &&
        !this.#draining.has(p) &&
        this.#draining.size < DRAINS_MAX
      )
        this.#drainPartition(placement, p)
    }
  }

  #drainPartition(placement: Placement, partition: number): void {
    const replicas = placement.preferenceList(partition).filter((n) => n !== this.name)
    if (replicas.length === 0 || !replicas.every((n) => this.isReachable(n))) return
    this.#draining.add(partition)
    const reader = this.#partitions.reader(partition, this.engine)
    const entries: KeyedRecord[] = []
    let after: string | undefined
    // Bounded: each page advances the cursor through one finite partition.
    for (;;) {
      const page = reader.scan({ after, limit: 200, includeDead: true, nowMs: this.wallMs() })
      entries.push(...page.entries)
      if (page.cursor === undefined) break
      after = page.cursor
    }
    let waiting = entries.length * replicas.length
    let isOk = true
    const settle = (ok: boolean) => {
      isOk &&= ok
      if (--waiting > 0) return
      this.#draining.delete(partition)
      if (!isOk) return
      this.stats.partitionsDrained++
      this.#world.log(`${this.name} drained partition ${partition}`)
      this.#runRebalance(this.rebalance.completeHandOff(partition))
    }
    if (waiting === 0) {
      waiting = 1
      settle(true)
      return
    }
    for (const { key, record } of entries) {
      for (const to of replicas) {
        const message: PutMessage = { type: 'put', requestId: this.#nextRequestId++, key, record }
        this.#send(
          { to, message },
          {
            onReply: (reply) => settle(reply?.type === 'put-reply' && reply.status !== 'refused'),
            onFailure: () => settle(false),
          },
        )
      }
    }
  }

  // ---- graceful leave ----

  /**
   * `ClusterRuntime.leave`: hand off, then leave the ownership set and memberlist, and stop.
   * `onGone` runs once the process stopped (not when it crashes meanwhile).
   */
  leave(onGone: () => void): void {
    if (!this.isReady || this.isLeaving) return
    this.isLeaving = true
    this.#onGone = onGone
    const others = members(this.ownership).filter((n) => n !== this.name && this.isReachable(n))
    this.#world.log(`${this.name} leaving`)
    this.#changeOwnership(leaveOwnership(this.ownership, this.name), [this.name])
    const deadlineMs = this.#world.queue.nowMs + this.#world.options.leaveTimeoutMs
    const poll = this.guard(() => {
      const isDone = this.outboundPending() === 0 && this.hints.pendingCount() === 0
      if (!isDone && this.#world.queue.nowMs < deadlineMs) {
        this.#world.queue.after(LEAVE_POLL_MS, poll)
        return
      }
      this.#world.log(
        `${this.name} hand-off finished (outbound ${this.outboundPending()}, hints ${this.hints.pendingCount()}); leaving`,
      )
      this.#changeOwnership(removeOwnership(this.ownership, this.name), [this.name])
      this.#pushRemoval(this.#world.queue.nowMs + this.#world.options.leaveTimeoutMs)
    })
    if (others.length === 0) {
      this.#changeOwnership(removeOwnership(this.ownership, this.name), [this.name])
      this.#stopAfterLeave()
    } else {
      poll()
    }
  }

  // `ClusterRuntime.leave`: push the removal to the other owners until one takes it (bounded
  // by the deadline), then give it a few gossip rounds and leave memberlist (swarm seed 5193).
  #pushRemoval(deadlineMs: number): void {
    const owners = members(this.ownership).filter((n) => n !== this.name)
    if (owners.length === 0 || this.#world.queue.nowMs >= deadlineMs) {
      this.#leaveMemberlist()
      return
    }
    this.#removalPush = {
      joinId: this.core.join(owners.map((name) => this.#world.addressOf(name))),
      deadlineMs,
    }
    this.afterCall()
  }

  #removalPush: { readonly joinId: number; readonly deadlineMs: number } | undefined

  #onRemovalPushed(successCount: number): void {
    const push = this.#removalPush
    this.#removalPush = undefined
    if (push === undefined) return
    if (successCount > 0) {
      this.#leaveMemberlist()
      return
    }
    this.#world.queue.after(
      REMOVAL_PUSH_RETRY_MS,
      this.guard(() => this.#pushRemoval(push.deadlineMs)),
    )
  }

  #leaveMemberlist(): void {
    this.#world.queue.after(
      LEAVE_GOSSIP_MS,
      this.guard(() => {
        this.core.leave(5_000)
        this.afterCall()
      }),
    )
  }

  /** The process exits after a graceful leave: what was queued for the disk is committed. */
  #stopAfterLeave(): void {
    if (!this.isUp || !this.isLeaving) return
    for (const item of [...this.#inFlightBatch, ...this.#nextBatch]) item.write()
    this.#inFlightBatch = []
    this.#nextBatch = []
    this.#isDiskBusy = false
    this.#placementCommit = undefined
    this.isUp = false
    this.joined = false
    this.isLeaving = false
    this.isMember = false
    this.epoch++
    this.core.shutdown()
    this.#gossipTickAtMs = undefined
    this.#writes = new Map()
    this.#reads = new Map()
    this.#world.log(`${this.name} left and stopped`)
    const onGone = this.#onGone
    this.#onGone = undefined
    onGone?.()
  }

  #makeAntiEntropy(): AntiEntropy {
    const { options } = this.#world
    return new AntiEntropy({
      store: this.engine,
      buildTree: (partition, shape, nowMs) =>
        new HashTree(
          shape,
          scanPartitionEntries({
            store: this.engine,
            partition,
            partitionOf: (key) => this.placement.partitionOf(key),
            nowMs,
            tombstoneGraceMs: TOMBSTONE_GRACE_MS,
          }),
        ),
      config: {
        intervalMs: options.antiEntropyIntervalMs,
        sessionTimeoutMs: Math.max(options.requestTimeoutMs, 2 * options.tickMs),
        maxConcurrentSessions: 4,
        tombstoneGraceMs: TOMBSTONE_GRACE_MS,
      },
    })
  }

  // ---- client requests (coordinator side) ----

  /**
   * Coordinates a put (value) or delete (null), with an optional expiry (Unix ms on this node's
   * clock, as the API computes `?ttl=`) and write condition (as `ClusterKvService` plans it
   * from a coordinated read). `done` runs once, unless this node crashes.
   */
  write(
    input: {
      key: string
      value: Uint8Array | null
      w: Consistency
      expiresAtMs?: number | undefined
      condition?: WriteCondition | undefined
    },
    done: (r: WriteResult) => void,
  ): void {
    // The acknowledgement waits until the wall clock has passed the version's millisecond,
    // as ClusterKvService does (hlc/commit-wait.ts); a crash meanwhile drops it.
    const acknowledge = (result: WriteResult) => {
      const waitMs =
        result.ok && !isOnlyCoordinator(this.placement.owners, this.name)
          ? commitWaitMs(result.version.wallMs, this.wallMs())
          : 0
      if (waitMs <= 0) return done(result)
      this.#world.queue.after(
        waitMs,
        this.guard(() => done(result)),
      )
    }
    const deadlineMs = this.wallMs() + this.#world.options.requestTimeoutMs
    this.#writeAttempt(input, deadlineMs, undefined, 0, acknowledge)
  }

  // The driver's #writeCoordinated: one attempt under the current placement, tried again while
  // `refusalRetryDelayMs` says so, with the same version and deadline.
  #writeAttempt(
    input: Parameters<SimNode['write']>[0],
    deadlineMs: number,
    version: WriteResult['version'] | undefined,
    retries: number,
    done: (r: WriteResult) => void,
  ): void {
    const placement = this.placement
    const partition = placement.partitionOf(input.key)
    const replicas = placement.preferenceList(partition)
    const core = new WriteCoordinator({
      requestId: this.#nextRequestId++,
      key: input.key,
      value: input.value,
      expiresAtMs: input.expiresAtMs,
      condition: input.condition,
      w: input.w,
      replicas,
      fallbacks: placement.orderedOwners(partition).slice(replicas.length),
      isReachable: this.isReachable,
      hlc: this.hlc,
      version,
      // A retry follows an unknown outcome: no 412 after it (swarm seed 5096).
      earlierAttemptMayHaveApplied: retries > 0,
      nowMs: this.wallMs(),
      deadlineMs,
    })
    const settle = (result: WriteResult) => {
      const delayMs = this.#retryDelayMs(result, retries, deadlineMs, replicas)
      if (delayMs === undefined) return done(result)
      this.#world.queue.after(
        delayMs,
        this.guard(() => this.#writeAttempt(input, deadlineMs, result.version, retries + 1, done)),
      )
    }
    const pending: PendingRequest<WriteResult> = { core, done: settle, isDone: false }
    this.#writes.set(core.requestId, pending)
    this.#applyWrite(pending, core, core.start())
  }

  // The driver's #retryDelayMs, with its ownership sync (Membership.syncWith): a push/pull with
  // the attempt's other live replicas, at most once a second per node.
  #retryDelayMs(
    result: WriteResult | ReadResult,
    retries: number,
    deadlineMs: number,
    replicas: readonly string[],
  ): number | undefined {
    const delayMs = refusalRetryDelayMs({ result, retries, nowMs: this.wallMs(), deadlineMs })
    if (delayMs === undefined) return undefined
    this.stats.refusalRetries++
    this.#syncOwnershipWith(replicas)
    return delayMs
  }

  // `Membership.syncWith`: push/pull ownership state with the live nodes of `nodes`, each at
  // most once a second; off with the reconnect, as the runtime's.
  #syncOwnershipWith(nodes: readonly string[]): void {
    if (this.#world.options.reconnectIntervalMs <= 0) return
    const targets = ownershipSyncTargets({
      self: this.name,
      candidates: nodes,
      isLive: this.isReachable,
      lastSyncMs: this.#lastSyncMs,
      nowMs: this.#world.queue.nowMs,
    })
    if (targets.length > 0) {
      this.core.join(targets.map((node) => this.#world.addressOf(node)))
      this.afterCall()
    }
  }

  #lastSyncMs = new Map<string, number>()

  /**
   * Coordinates a read on the key's replicas under the current placement; `done` runs once,
   * unless this node crashes. (The driver used to retry a failed read on the previous
   * placement's replicas; those may have dropped the partition, and a quorum of them may miss
   * a write acknowledged by the new replicas, so the retry could return stale data as a
   * successful quorum read — found by this simulator, seed 8; removed from the driver.)
   */
  read(input: { key: string; r: Consistency }, done: (r: ReadResult) => void): void {
    const deadlineMs = this.wallMs() + this.#world.options.requestTimeoutMs
    this.#readAttempt(input, deadlineMs, 0, done)
  }

  // The driver's #readAttempt: asked again under the placement current then while
  // `refusalRetryDelayMs` says so, within the same deadline.
  #readAttempt(
    input: { key: string; r: Consistency },
    deadlineMs: number,
    retries: number,
    done: (r: ReadResult) => void,
  ): void {
    const placement = this.placement
    const replicas = placement.preferenceList(placement.partitionOf(input.key))
    const timeoutMs = this.#world.options.requestTimeoutMs
    const core = new ReadCoordinator({
      requestId: this.#nextRequestId++,
      key: input.key,
      r: input.r,
      replicas,
      isReachable: this.isReachable,
      nowMs: this.wallMs(),
      deadlineMs,
      repairDeadlineMs: deadlineMs + timeoutMs,
    })
    const settle = (result: ReadResult) => {
      const delayMs = this.#retryDelayMs(result, retries, deadlineMs, replicas)
      if (delayMs === undefined) return done(result)
      this.#world.queue.after(
        delayMs,
        this.guard(() => this.#readAttempt(input, deadlineMs, retries + 1, done)),
      )
    }
    const pending: PendingRequest<ReadResult> = { core, done: settle, isDone: false }
    this.#reads.set(core.requestId, pending)
    this.#applyRead(pending, core, core.start())
  }

  #applyWrite(
    pending: PendingRequest<WriteResult>,
    core: WriteCoordinator,
    step: CoordinatorStep<WriteResult>,
  ): void {
    for (const out of step.send) {
      this.#send(out, {
        onReply: (reply) => {
          const skewedStale =
            reply?.type === 'put-reply' &&
            reply.status === 'stale' &&
            reply.current !== undefined &&
            this.#isSkewedWallMs(reply.current.wallMs)
          const next =
            reply?.type !== 'put-reply' || skewedStale
              ? core.onFailure(out.to, this.wallMs())
              : core.onReply(out.to, reply, this.wallMs())
          this.#applyWrite(pending, core, next)
        },
        onFailure: () => this.#applyWrite(pending, core, core.onFailure(out.to, this.wallMs())),
      })
    }
    this.#complete(pending, step.completed)
    if (core.isSettled) this.#writes.delete(core.requestId)
  }

  #applyRead(
    pending: PendingRequest<ReadResult>,
    core: ReadCoordinator,
    step: CoordinatorStep<ReadResult>,
  ): void {
    for (const out of step.send) {
      if (out.message.type === 'put') {
        this.stats.readRepairs++
        this.#send(out, { onReply: () => {}, onFailure: () => {} })
        continue
      }
      this.#send(out, {
        onReply: (reply) => {
          if (reply?.type !== 'get-reply') {
            return this.#applyRead(pending, core, core.onFailure(out.to, this.wallMs()))
          }
          // A record beyond the skew bound is an unusable answer (the driver's `#applyRead`).
          const step = this.#isSkewed(reply.record)
            ? core.onUnusableReply(out.to, this.wallMs())
            : core.onReply(out.to, reply, this.wallMs())
          this.#applyRead(pending, core, step)
        },
        // A refusal (the replica's handler failed) may be retried; a lost call is not.
        onFailure: (_why, answered) =>
          this.#applyRead(
            pending,
            core,
            answered === true
              ? core.onRefusal(out.to, this.wallMs())
              : core.onFailure(out.to, this.wallMs()),
          ),
      })
    }
    if (step.completed?.ok && step.completed.newest !== undefined) {
      // The API layer lets the HLC observe what a read returned (causality for later writes).
      this.#observe(step.completed.newest.version)
    }
    this.#complete(pending, step.completed)
    if (core.isSettled) this.#reads.delete(core.requestId)
  }

  #complete<R>(pending: PendingRequest<R>, result: R | undefined): void {
    if (result === undefined || pending.isDone) return
    pending.isDone = true
    pending.done(result)
  }

  #observe(version: StoredRecord['version']): boolean {
    try {
      this.hlc.observe(version)
      return true
    } catch {
      return false
    }
  }

  #isSkewedWallMs(wallMs: number): boolean {
    return wallMs - this.wallMs() > MAX_CLOCK_SKEW_MS
  }

  #isSkewed(record: StoredRecord | undefined): boolean {
    return record !== undefined && this.#isSkewedWallMs(record.version.wallMs)
  }

  #send(
    out: Outgoing,
    handlers: {
      onReply(reply: ReplicationMessage | undefined): void
      onFailure(why: string, answered?: boolean): void
    },
  ): void {
    const type = out.message.type
    const timeoutMs = this.#world.options.requestTimeoutMs
    const callTimeoutMs = type === 'put' || type === 'get' ? timeoutMs / 2 : timeoutMs
    if (out.to !== this.name) {
      this.#world.call(this, out.to, out.message, callTimeoutMs, handlers)
      return
    }
    // To ourselves: no network, but still asynchronous (as the runtime's promise is).
    this.#world.queue.after(
      0,
      this.guard(() =>
        this.handleRequest(this.name, out.message, {
          reply: this.guard(handlers.onReply),
          fail: this.guard((why: string) => handlers.onFailure(why, true)),
        }),
      ),
    )
  }

  // ---- replica side ----

  /** One replication request from `from` (the runtime's `ReplicationDriver.handle`). */
  handleRequest(from: string, message: ReplicationMessage, respond: Responder): void {
    switch (message.type) {
      case 'put':
        this.#handlePut(from, message, respond)
        break
      case 'get':
        this.#handleGet(from, message, respond)
        break
      case 'hint-deliver': {
        if (!this.#acceptVersion(message.record, respond)) break
        const step = handleHintDeliver({ store: this.engine, from, message })
        this.#persist(step.entries, () => respond.reply(step.thenSend[0]?.message))
        break
      }
      case 'aae-hashes-request':
      case 'aae-keys':
      case 'aae-push': {
        const incoming =
          message.type === 'aae-push'
            ? { ...message, records: this.#withoutSkewed(message.records) }
            : message
        const step = this.aae.onMessage(from, incoming, this.wallMs())
        const reply = step.send.find((out) => out.to === from)?.message
        this.#persistAll(step.persist, () => respond.reply(reply))
        break
      }
      case 'handoff-request':
        // As the driver: after the writes taken under an earlier placement have committed.
        if (this.#placementCommit !== undefined) {
          this.#placementCommit.push(() => this.#serveHandoff(message, respond))
        } else this.#serveHandoff(message, respond)
        break
      case 'handoff-done':
        this.#runRebalance(this.rebalance.onHandoffDone(from, message))
        respond.reply(undefined)
        break
      default:
        respond.reply(undefined) // replies never arrive as requests
    }
  }

  // As the driver: a node that does not know what it holds, or that places the partition on
  // other replicas than the receiver (the hand-off fence), serves no pages, and one whose copy
  // may be incomplete says so on every page.
  #serveHandoff(message: HandoffRequestMessage, respond: Responder): void {
    const holding = this.#holdingOf(message.partition)
    const refusal = handoffSourceRefusal(holding, message.replicas)
    if (refusal !== undefined) {
      respond.fail(`handoff-request refused: ${refusal}`)
      return
    }
    const answer = answerHandoffRequest({
      store: this.#partitions.reader(message.partition, this.engine),
      request: message,
      partitionOf: (key) => this.placement.partitionOf(key),
      nowMs: this.wallMs(),
      partial: handoffSourceIsPartial(holding),
    })
    respond.reply(answer)
  }

  /**
   * The driver's `#handleGet`, by the same rule (`routeGet`): the local record when this node
   * holds the key's partition, a failure when it does not, and while it still streams the
   * partition in, the newest of its own record and those of a read quorum of the old replicas
   * (a failure when that quorum does not answer).
   */
  #handleGet(from: string, message: GetMessage, respond: Responder): void {
    const route = routeGet({
      ...this.#partitionHolding(message.key),
      forwarded: message.requestId >= FORWARDED_ID_BASE,
      coordinatorReplicas: message.replicas,
    })
    if (route.kind === 'refuse') {
      respond.fail(route.reason)
      return
    }
    if (route.kind === 'local') {
      respond.reply(handleGet({ store: this.engine, from, message }).message)
      return
    }
    // Unfenced: the old replicas place the partition by the previous placement.
    const forwarded: GetMessage = {
      type: 'get',
      requestId: FORWARDED_ID_BASE + message.requestId,
      key: message.key,
    }
    const targets = route.sources.filter((node) => this.isReachable(node))
    const records: Array<StoredRecord | undefined> = []
    let failed = 0
    let isAnswered = false
    const fail = () => {
      failed += 1
      if (isAnswered || targets.length - failed >= route.needed) return
      isAnswered = true
      respond.fail('no read quorum of the previous replicas')
    }
    if (targets.length < route.needed) {
      respond.fail('no read quorum of the previous replicas')
      return
    }
    for (const source of targets) {
      this.#world.call(
        this,
        source,
        forwarded,
        Math.max(1, this.#world.options.requestTimeoutMs / 4),
        {
          onReply: (reply) => {
            if (reply?.type !== 'get-reply' || this.#isSkewed(reply.record)) return fail()
            records.push(reply.record)
            if (isAnswered || records.length < route.needed) return
            isAnswered = true
            // Our own record read now, after the wait: pages streamed in meanwhile count.
            let record = this.engine.getRecord(message.key)
            for (const other of records) record = newer(record, other)
            respond.reply({ type: 'get-reply', requestId: message.requestId, record })
          },
          onFailure: () => fail(),
        },
      )
    }
  }

  /** The driver's `#partitionHolding`: this node's view of `key`'s partition (applied placement). */
  #partitionHolding(key: string): PartitionHolding {
    return this.#holdingOf(this.#applied?.partitionOf(key))
  }

  /** The same view of one partition (undefined: no placement applied yet). */
  #holdingOf(partition: number | undefined): PartitionHolding {
    const placement = this.#applied
    return {
      self: this.name,
      replicas: partition === undefined ? undefined : placement?.preferenceList(partition),
      handoff: partition === undefined ? undefined : this.rebalance.stateOf(partition),
      readQuorum: partition === undefined ? undefined : this.rebalance.readQuorumOf(partition),
      newReplica: partition !== undefined && this.rebalance.isNewReplicaOf(partition),
    }
  }

  /** The driver's `#handlePut`: a replica put for a partition not held here is `refused`. */
  #handlePut(from: string, message: PutMessage, respond: Responder): void {
    if (!this.#acceptVersion(message.record, respond)) return
    const step = handlePut({
      store: this.engine,
      hints: this.hints,
      from,
      message,
      partition: this.#partitionHolding(message.key),
    })
    const hint = step.hintPersist[0]
    if (hint !== undefined) {
      const reply = hint.thenSend.find((out) => out.to === from)?.message
      this.#persistHints(hint.writes, () => respond.reply(reply))
      return
    }
    const after = step.persist[0]
    if (after !== undefined) {
      // As the driver: the reply reports the engine's own decision at commit time.
      this.#persist(after.entries, (outcomes) =>
        respond.reply(putReplyAfterWrite(after.thenSend[0]?.message, outcomes[0])),
      )
      return
    }
    respond.reply(step.send.find((out) => out.to === from)?.message)
  }

  #acceptVersion(record: StoredRecord, respond: Responder): boolean {
    if (this.#observe(record.version)) return true
    this.stats.skewRefusals++
    respond.fail('GOSSAMER_ERR_CLOCK_SKEW')
    return false
  }

  #withoutSkewed(records: readonly KeyedRecord[]): KeyedRecord[] {
    return records.filter(({ record }) => !this.#isSkewed(record))
  }

  // ---- timer ----

  #scheduleTick(): void {
    this.#world.queue.after(
      this.#world.options.tickMs,
      this.guard(() => {
        this.#tick()
        this.#scheduleTick()
      }),
    )
  }

  #tick(): void {
    const nowMs = this.wallMs()
    for (const pending of [...this.#writes.values()]) {
      const core = pending.core as WriteCoordinator
      this.#applyWrite(pending, core, core.tick(nowMs))
    }
    for (const pending of [...this.#reads.values()]) {
      const core = pending.core as ReadCoordinator
      this.#applyRead(pending, core, core.tick(nowMs))
    }
    this.#retargetHints()
    for (const out of this.hints.tick(nowMs)) this.#sendHint(out)
    this.#runAntiEntropy(this.aae.tick(nowMs, this.isReachable).send)
    this.#runRebalance(this.rebalance.tick(nowMs, this.isReachable, this.#isOwner))
    if (nowMs >= this.#nextDrainCheckMs) {
      this.#nextDrainCheckMs = nowMs + DRAIN_CHECK_MS
      this.#drainStuckHandOffs(nowMs)
    }
  }

  // The driver's #retargetHints: hints held for a node that left the ownership set go to the
  // keys' current replicas (a copy for this node into its own store), under the applied
  // placement only; the local copies are committed before the old hints are removed.
  #retargetHints(): void {
    const placement = this.#applied
    if (placement === undefined) return
    const owners = new Set(placement.owners)
    if (this.hints.heldFor().every((node) => owners.has(node))) return
    const step = this.hints.retarget({
      self: this.name,
      isOwner: (node) => owners.has(node),
      replicasOf: (key) => placement.preferenceList(placement.partitionOf(key)),
    })
    this.stats.hintsRetargeted += step.retargeted
    this.stats.hintsDropped += step.dropped
    if (step.retargeted > 0) {
      this.#world.log(`${this.name} re-targets ${step.retargeted} hint(s) of departed nodes`)
    }
    // As the driver: new hints now (in order with every other hint write), the removal of the
    // old ones after those and the local copies are committed.
    let waiting = 2
    const thenRemove = () => {
      if (--waiting === 0) this.#persistHints(step.removals, () => {})
    }
    this.#persistHints(step.writes, thenRemove)
    this.#persist(step.local, thenRemove)
  }

  #sendHint(out: Outgoing): void {
    if (out.message.type !== 'hint-deliver') return
    const deliveryId = out.message.deliveryId
    this.#send(out, {
      onReply: (reply) => {
        if (reply?.type !== 'hint-ack') return this.hints.onFailure(out.to, deliveryId)
        const step = this.hints.onAck(out.to, reply, this.wallMs())
        this.#persistHints(step.writes, () => {
          for (const next of step.send) this.#sendHint(next)
        })
      },
      onFailure: () => this.hints.onFailure(out.to, deliveryId),
    })
  }

  #runAntiEntropy(send: readonly Outgoing[]): void {
    for (const out of send) {
      this.#send(out, {
        onReply: (reply) => {
          if (reply === undefined) return
          const incoming =
            reply.type === 'aae-keys-reply'
              ? { ...reply, records: this.#withoutSkewed(reply.records) }
              : reply
          const step = this.aae.onMessage(out.to, incoming, this.wallMs())
          this.#persistAll(step.persist, () => {})
          this.#runAntiEntropy(step.send)
        },
        onFailure: () => this.aae.onFailure(out.to),
      })
    }
  }

  // ---- disk ----

  #persistAll(steps: ReadonlyArray<{ entries: readonly WriteEntry[] }>, then: () => void): void {
    const entries = steps.flatMap((step) => step.entries)
    this.#persist(entries, then)
  }

  #persist(
    entries: readonly WriteEntry[],
    then: (outcomes: readonly WriteOutcome[]) => void,
  ): void {
    if (entries.length === 0) {
      then([])
      return
    }
    let outcomes: readonly WriteOutcome[] = []
    this.#commit(
      () => {
        outcomes = this.engine.writeBatchSync(entries)
      },
      () => then(outcomes),
    )
  }

  #persistHints(writes: readonly HintWrite[], then: () => void): void {
    if (writes.length === 0) then()
    else this.#commit(() => this.hintStore.apply(writes), then)
  }

  /**
   * One write on the simulated disk, with group commit as lmdb-js batches asynchronous writes:
   * writes that arrive while a commit is in flight form the next batch, committed as one
   * transaction when the current one finishes. A commit takes an exponential latency scaled by
   * the slow-disk factor. `then` (the reply that needs durability) runs after its batch
   * committed, or at once under the `ackBeforePersist` bug switch. A crash drops both.
   */
  #commit(write: () => void, then: () => void): void {
    const ackBeforePersist = this.#world.options.ackBeforePersist
    this.#nextBatch.push({ write, afterCommit: ackBeforePersist ? () => {} : then })
    if (ackBeforePersist) then()
    if (!this.#isDiskBusy) this.#startBatch()
  }

  #startBatch(): void {
    const batch = this.#nextBatch
    this.#nextBatch = []
    this.#isDiskBusy = true
    this.#inFlightBatch = batch
    const meanMs = this.#world.options.diskLatencyMeanMs
    const latencyMs = (0.2 - Math.log(1 - this.#random.float()) * meanMs) * this.diskFactor
    this.#world.queue.after(
      latencyMs,
      this.guard(() => {
        this.#inFlightBatch = []
        this.stats.commits++
        for (const item of batch) item.write()
        for (const item of batch) item.afterCommit()
        this.#isDiskBusy = false
        if (this.#nextBatch.length > 0) this.#startBatch()
      }),
    )
  }

  /** Requests this node coordinates now (client operations in flight here). */
  get inFlight(): number {
    return this.#writes.size + this.#reads.size
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i])
}

function newer(a: StoredRecord | undefined, b: StoredRecord | undefined): StoredRecord | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return compareVersions(b.version, a.version) > 0 ? b : a
}
