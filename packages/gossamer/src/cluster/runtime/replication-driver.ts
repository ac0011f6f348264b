/**
 * The replication driver (architecture §6; docs/replication.md "Driver contract"): binds the
 * sans-I/O cores of `src/replication` — coordinators, replica handlers, hinted handoff,
 * anti-entropy and rebalancing — to the storage engine, the durable hint store, a peer
 * transport and a real timer.
 *
 * - Client requests become one `WriteCoordinator` / `ReadCoordinator` each; their messages go
 *   out through the transport and replies (or failures) come back into the same coordinator.
 * - Requests from peers run the replica side and answer only once their writes are durable
 *   (persist, then reply).
 * - A timer ticks every `tickIntervalMs`: coordinator deadlines, hint deliveries to reachable
 *   replicas, anti-entropy sessions (paced by the core's token bucket) and handoff streams
 *   (paced here: `handoff-request`s wait for tokens of the handoff bucket, see `#sendRebalance`).
 * - Every record arriving from a peer passes the clock-skew check: a version further ahead of
 *   this node's wall clock than `maxClockSkewMs` is refused (a put fails with
 *   GOSSAMER_ERR_CLOCK_SKEW) or dropped (repair and streaming), so one node with a clock far in
 *   the future cannot impose its versions on the others.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { GossamerError } from '../../errors.ts'
import type { HybridLogicalClock } from '../../hlc/hlc.ts'
import { compareVersions, type Version } from '../../hlc/version.ts'
import type { Logger } from '../../log.ts'
import { AntiEntropy } from '../../replication/anti-entropy.ts'
import {
  type Consistency,
  type ReplicaReport,
  type ReplicationErrorCode,
  type ReplicationFailure,
  requiredCount,
} from '../../replication/consistency.ts'
import {
  type CoordinatorStep,
  ReadCoordinator,
  type ReadResult,
  refusalRetryDelayMs,
  WriteCoordinator,
  type WriteResult,
} from '../../replication/coordinator.ts'
import { HashTree, treeEntry } from '../../replication/hash-tree.ts'
import { HintedHandoff, type HintStore, type HintWrite } from '../../replication/hinted-handoff.ts'
import type {
  AfterPersist,
  KeyedRecord,
  Outgoing,
  ReplicationMessage,
} from '../../replication/messages.ts'
import {
  answerHandoffRequest,
  planRebalance,
  REBALANCE_DEFAULTS,
  Rebalance,
  type RebalanceStep,
} from '../../replication/rebalance.ts'
import {
  handleGet,
  handleHintDeliver,
  handlePut,
  handoffSourceIsPartial,
  handoffSourceRefusal,
  type PartitionHolding,
  putReplyAfterWrite,
  routeGet,
} from '../../replication/replica.ts'
import type { Placement } from '../../ring/partitioner.ts'
import { RPC_ERROR_CODES, RpcError } from '../../rpc/errors.ts'
import type {
  Engine,
  StoredRecord,
  WriteCondition,
  WriteEntry,
  WriteOutcome,
} from '../../storage/engine.ts'
import { isLive } from '../../storage/record-rules.ts'
import { enginePartitionView, PartitionIndex, type PartitionView } from './partition-index.ts'
import type { PeerTransport } from './transport.ts'

/** Settings of the driver. Plain data. */
export interface ReplicationDriverSettings {
  readonly requestTimeoutMs: number
  readonly tickIntervalMs: number
  readonly tombstoneGraceMs: number
  readonly maxClockSkewMs: number
  readonly antiEntropyIntervalMs: number
  /** Records per second anti-entropy may move (the token bucket's refill). */
  readonly antiEntropyRecordsPerSec: number
  /** Records per second this node may pull by rebalancing (the handoff token bucket's refill). */
  readonly handoffRecordsPerSec: number
}

/** What the driver is built from. */
export interface ReplicationDriverComponents {
  readonly self: string
  readonly engine: Engine
  readonly hlc: HybridLogicalClock
  /** The durable hint store; `apply` may return a promise (awaited before acking). */
  readonly hintStore: {
    apply(writes: readonly HintWrite[]): void | Promise<void>
    list(): ReturnType<HintStore['list']> | Promise<ReturnType<HintStore['list']>>
  }
  readonly transport: PeerTransport
  /** The placement in force now. */
  readonly placement: () => Placement
  /** Whether a node is worth sending to (alive in membership). */
  readonly isReachable: (node: string) => boolean
  /**
   * Whether a node is in the ownership set now (a member, or leaving): a receiver stops
   * waiting for an old replica that is not (`Rebalance.tick`). Default: every node.
   */
  readonly isOwner?: ((node: string) => boolean) | undefined
  readonly nowMs: () => number
  readonly logger: Logger
  /** Drops a partition's local records (after a handoff), if the engine supports it. */
  readonly dropPartition?: ((partition: number) => Promise<void>) | undefined
  /** Called when a storage write fails (the node stops serving). */
  readonly onStorageFailure?: ((error: unknown) => void) | undefined
  /**
   * Exchanges ownership state with these nodes now (memberlist push/pull): called before a
   * request they refused is retried (`refusalRetryDelayMs`), and when a hand-off source refuses
   * a `handoff-request` (`handoffSourceRefusal`).
   */
  readonly syncOwnership?: ((nodes: readonly string[]) => void) | undefined
}

/** A write as the API asks for it. */
export interface ClusterWrite {
  readonly key: string
  readonly value: Uint8Array | null
  readonly expiresAtMs?: number | undefined
  readonly contentType?: string | undefined
  readonly condition?: WriteCondition | undefined
  readonly w: Consistency
}

/** Counters for metrics and `/v1/admin/stats`. */
export interface ReplicationStats {
  writes: number
  writeFailures: number
  reads: number
  readFailures: number
  quorumFailures: number
  timeouts: number
  readRepairs: number
  hintsStored: number
  hintsDelivered: number
  /** Hints moved off a replica that left the ownership set to the key's current replicas. */
  hintsRetargeted: number
  /** Re-targeted hint copies a full queue refused (dropped; anti-entropy covers them). */
  hintsDropped: number
  rpcErrors: number
  skewRefusals: number
  /** Requests coordinated again after a replica refused them (`refusalRetryDelayMs`). */
  refusalRetries: number
  /** Records received by rebalancing (pages persisted by this node as a receiver). */
  handoffRecords: number
  /** Payload bytes of those records: UTF-8 key bytes plus value bytes (tombstones: key only). */
  handoffBytes: number
  /** Inbound partition transfers this node finished (last page received). */
  handoffPartitions: number
  /**
   * Partition pushes this node started as an old replica whose hand-off waited longer than
   * max(10 s, 2 × requestTimeoutMs) (`#drainStuckHandOffs`).
   */
  handoffDrains: number
  partitionsDropped: number
}

interface Pending<R> {
  readonly coordinator: {
    tick(nowMs: number): CoordinatorStep<R>
    readonly isSettled: boolean
  }
  readonly resolve: (result: R) => void
  done: boolean
  /** An attempt that may be retried: its failure is counted once the request gives up. */
  readonly isAttempt?: boolean
  /** Replicas that refused the write because its version was too far ahead of their clock. */
  skewRefusals?: number
}

/**
 * A write's completion, plus how many replicas refused it for clock skew. `local` is present
 * when this node was the key's only replica and applied the write itself (see `write`): it
 * carries the record the write replaced, read inside the same transaction.
 */
export type ClusterWriteResult = WriteResult & {
  readonly clockSkewRefusals?: number | undefined
  readonly local?: { readonly previous: StoredRecord | undefined } | undefined
}

const REQUEST_ID_MAX = 0xffff_fffe
const CLOCK_SKEW_CODE = 'GOSSAMER_ERR_CLOCK_SKEW'
const DRAIN_CHECK_MS = 200
const DRAINS_MAX = 8
/** Request ids from here on mark a `get` forwarded by a replica still streaming (see #handleGet). */
const FORWARDED_ID_BASE = 2 ** 52

/**
 * Anti-entropy sessions this node runs at once. A session starts on a tick, so a full pass over
 * P local partitions takes at least P × tickIntervalMs / ANTI_ENTROPY_SESSIONS.
 */
export const ANTI_ENTROPY_SESSIONS = 4

/** The replication driver of one node. */
export class ReplicationDriver {
  readonly #c: ReplicationDriverComponents
  readonly #s: ReplicationDriverSettings
  readonly #index: PartitionView
  /** The replica report of every successful local write (shared: results are read-only). */
  readonly #localAcked: readonly ReplicaReport[]
  readonly #hints: HintedHandoff
  readonly #aae: AntiEntropy
  readonly #rebalance: Rebalance
  readonly #writes = new Map<number, Pending<ClusterWriteResult>>()
  readonly #reads = new Map<number, Pending<ReadResult>>()
  readonly stats: ReplicationStats = {
    writes: 0,
    writeFailures: 0,
    reads: 0,
    readFailures: 0,
    quorumFailures: 0,
    timeouts: 0,
    readRepairs: 0,
    hintsStored: 0,
    hintsDelivered: 0,
    hintsRetargeted: 0,
    hintsDropped: 0,
    rpcErrors: 0,
    skewRefusals: 0,
    refusalRetries: 0,
    handoffRecords: 0,
    handoffBytes: 0,
    handoffPartitions: 0,
    handoffDrains: 0,
    partitionsDropped: 0,
  }
  #nextRequestId = 1
  #timer: ReturnType<typeof setInterval> | undefined
  #placement: Placement | undefined
  readonly #handOffSinceMs = new Map<number, number>()
  readonly #draining = new Set<number>()
  #nextDrainCheckMs = 0
  // Handoff pacing (I/O side; the rebalance core stays unaware): a token bucket refilled every
  // tick. A handoff-request goes out only while tokens > 0; each page received is charged its
  // record count (the bucket may go into debt by the pages in flight, repaid before the next
  // request), so empty partitions cost nothing and the average rate holds. Requests that find
  // no token wait here, one per partition (a newer request for the partition replaces the
  // older), released on ticks. Tokens only rise on a tick, so waiting ⇒ tokens ≤ 0.
  #handoffTokens: number
  readonly #handoffTokensPerTick: number
  readonly #handoffTokensMax: number
  readonly #handoffWaiting = new Map<number, Outgoing>()
  // The last write handed to the engine (`#persist`). The engine commits its writes in the order
  // they were handed to it (lmdb-js commits its asynchronous write blocks in order), so once
  // this one settles, every earlier one has.
  #lastWrite: Promise<unknown> = Promise.resolve()
  // Settles once every write this node handed the engine before it applied the placement now
  // in force has settled (`applyPlacement`): hand-off pages wait for it (`#writesBeforePlacement`).
  #placementWrites: Promise<unknown> = Promise.resolve()
  #isClosed = false

  private constructor(
    components: ReplicationDriverComponents,
    settings: ReplicationDriverSettings,
    index: PartitionView,
  ) {
    this.#c = components
    this.#s = settings
    this.#index = index
    this.#localAcked = Object.freeze([Object.freeze({ node: components.self, status: 'acked' })])
    this.#hints = new HintedHandoff({ deliveryTimeoutMs: settings.requestTimeoutMs })
    const tokensPerTick = Math.max(
      1,
      Math.round((settings.antiEntropyRecordsPerSec * settings.tickIntervalMs) / 1000),
    )
    this.#aae = new AntiEntropy({
      store: components.engine,
      buildTree: (partition, shape, nowMs) => this.#buildTree(partition, shape, nowMs),
      config: {
        intervalMs: settings.antiEntropyIntervalMs,
        tokensPerTick,
        tokensMax: Math.max(tokensPerTick, 5 * tokensPerTick),
        sessionTimeoutMs: Math.max(settings.requestTimeoutMs, 2 * settings.tickIntervalMs),
        maxConcurrentSessions: ANTI_ENTROPY_SESSIONS,
        tombstoneGraceMs: settings.tombstoneGraceMs,
      },
    })
    this.#handoffTokensPerTick = Math.max(
      1,
      Math.round((settings.handoffRecordsPerSec * settings.tickIntervalMs) / 1000),
    )
    this.#handoffTokensMax = Math.max(this.#handoffTokensPerTick, 5 * this.#handoffTokensPerTick)
    this.#handoffTokens = this.#handoffTokensMax
    this.#rebalance = new Rebalance({
      self: components.self,
      config: {
        requestTimeoutMs: settings.requestTimeoutMs,
        ...handoffPacing(settings),
      },
    })
  }

  /** Builds the partition index, restores stored hints and starts the timer. */
  static async start(
    components: ReplicationDriverComponents,
    settings: ReplicationDriverSettings,
  ): Promise<ReplicationDriver> {
    const partitionOf = (key: string) => components.placement().partitionOf(key)
    const index =
      components.engine.partitionIndex !== undefined
        ? enginePartitionView(components.engine)
        : PartitionIndex.build(components.engine, partitionOf)
    const driver = new ReplicationDriver(components, settings, index)
    driver.#hints.restore(await components.hintStore.list())
    driver.#timer = setInterval(() => driver.#tick(), settings.tickIntervalMs)
    driver.#timer.unref()
    return driver
  }

  /** True when this node has no inbound handoff left (what `/v1/ready` reports). */
  get isReady(): boolean {
    return this.#rebalance.isReady
  }

  /** Hints held for other replicas. */
  get hintsPending(): number {
    return this.#hints.pendingCount()
  }

  /** Anti-entropy counters. */
  get antiEntropy(): {
    rounds: number
    repaired: number
    failed: number
    inSync: number
    waiting: number
  } {
    const finished = this.#aae.finished
    return {
      rounds: finished.inSync + finished.repaired + finished.failed,
      repaired: this.#aae.pulledCount + this.#aae.pushedCount,
      failed: finished.failed,
      inSync: finished.inSync,
      waiting: this.#aae.waitingCount,
    }
  }

  /** Handoff state of a partition on this node. */
  handoffStateOf(partition: number): 'none' | 'pending' | 'streaming' | 'done' {
    switch (this.#rebalance.stateOf(partition)) {
      case 'pending':
        return 'pending'
      case 'receiving':
      case 'handing-off':
        return 'streaming'
      case 'received':
      case 'dropped':
        return 'done'
      default:
        return 'none'
    }
  }

  /** Partitions this node still has to hand off (it is an old replica awaiting receivers). */
  outboundPending(): number {
    const placement = this.#placement
    if (placement === undefined) return 0
    let count = 0
    for (let p = 0; p < placement.partitionCount; p++) {
      if (this.#rebalance.stateOf(p) === 'handing-off') count += 1
    }
    return count
  }

  /** Inbound handoffs not finished yet. */
  inboundPending(): number {
    const placement = this.#placement
    if (placement === undefined) return 0
    let count = 0
    for (let p = 0; p < placement.partitionCount; p++) {
      const state = this.#rebalance.stateOf(p)
      if (state === 'pending' || state === 'receiving') count += 1
    }
    return count
  }

  /** Membership says `node` is reachable or not (hint deliveries start on the next tick). */
  setReachable(node: string, reachable: boolean): void {
    this.#hints.setReachable(node, reachable)
  }

  /**
   * A new placement is in force. `previous` is the placement the data is laid out by now
   * (undefined: nothing to stream). Updates anti-entropy's partitions and starts rebalancing.
   * `holders`: the owners still leaving, which keep their copies until their receivers are
   * done (`Rebalance.applyPlan`: receivers stream from them when the old replicas cannot give
   * enough complete passes, and from the other owners of `next` after them).
   */
  applyPlacement(
    next: Placement,
    previous: Placement | undefined,
    holders: readonly string[] = [],
  ): void {
    this.#placement = next
    this.#placementWrites = this.#lastWrite.then(
      () => {},
      () => {},
    )
    const self = this.#c.self
    const partitions: Array<{ partition: number; peers: string[] }> = []
    for (let partition = 0; partition < next.partitionCount; partition++) {
      const replicas = next.preferenceList(partition)
      // A partition with no other replica has nobody to compare with: anti-entropy would only
      // walk it on every tick (all 4096 partitions of a lone node).
      if (!replicas.includes(self) || replicas.length < 2) continue
      partitions.push({ partition, peers: replicas.filter((node) => node !== self) })
    }
    this.#aae.setPartitions(partitions)
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
    this.#runRebalance(
      this.#rebalance.applyPlan(safePlan, {
        newReplicas: (p) => next.preferenceList(p),
        holders,
        owners: next.owners,
      }),
    )
  }

  /** Makes every partition due for anti-entropy now (after a restart on an empty store). */
  scheduleAntiEntropyNow(): void {
    this.#aae.scheduleAll(this.#c.nowMs())
  }

  /**
   * Coordinates a write (any node coordinates any key). When this node is the key's only
   * replica (a lone node, or N = 1) and `w` asks for at most one ack, the write takes the local
   * path of `#writeLocally` instead of a coordinator and a message to itself; not while the
   * partition still streams in: a new replica's ack does not count alone there (`coordinator.ts`,
   * "Acks from new replicas still streaming in"), as reads keep the coordinated path then.
   */
  write(input: ClusterWrite): Promise<ClusterWriteResult> {
    const placement = this.#c.placement()
    const partition = placement.partitionOf(input.key)
    if (
      this.#isSoleReplica(placement, partition) &&
      requiredCount(input.w, 1) <= 1 &&
      !this.#isStreamingIn(partition)
    ) {
      return this.#writeLocally(input)
    }
    this.stats.writes += 1
    return this.#writeCoordinated(input, this.#c.nowMs() + this.#s.requestTimeoutMs, undefined, 0)
  }

  // One attempt under the current placement; a failed one is tried again while
  // `refusalRetryDelayMs` says so, with the same version and the same deadline.
  #writeCoordinated(
    input: ClusterWrite,
    deadlineMs: number,
    version: Version | undefined,
    retries: number,
  ): Promise<ClusterWriteResult> {
    const placement = this.#c.placement()
    const partition = placement.partitionOf(input.key)
    const replicas = placement.preferenceList(partition)
    const coordinator = new WriteCoordinator({
      requestId: this.#requestId(),
      key: input.key,
      value: input.value,
      expiresAtMs: input.expiresAtMs,
      contentType: input.contentType,
      condition: input.condition,
      w: input.w,
      replicas,
      // Computed only when a replica is unreachable or fails (ordering every owner per write
      // costs a sort).
      get fallbacks() {
        return placement.orderedOwners(partition).slice(replicas.length)
      },
      isReachable: this.#c.isReachable,
      hlc: this.#c.hlc,
      version,
      // A retry follows an unknown outcome: no 412 after it (swarm seed 5096).
      earlierAttemptMayHaveApplied: retries > 0,
      nowMs: this.#c.nowMs(),
      deadlineMs,
    })
    const attempt = new Promise<ClusterWriteResult>((resolve) => {
      const pending: Pending<ClusterWriteResult> = {
        coordinator,
        resolve,
        done: false,
        isAttempt: true,
      }
      this.#writes.set(coordinator.requestId, pending)
      this.#applyWrite(pending, coordinator, coordinator.start())
    })
    return attempt.then((result) => {
      const delayMs = this.#retryDelayMs(result, retries, deadlineMs, replicas)
      if (delayMs === undefined) {
        if (!result.ok) this.#countFailure(result.error.code, 'write')
        return result
      }
      return sleep(delayMs).then(() =>
        this.#writeCoordinated(input, deadlineMs, result.version, retries + 1),
      )
    })
  }

  // Whether to retry a finished attempt, and when; before a retry this node and the attempt's
  // replicas exchange ownership state, so that views that differ agree by then.
  #retryDelayMs(
    result: WriteResult | ReadResult,
    retries: number,
    deadlineMs: number,
    replicas: readonly string[],
  ): number | undefined {
    if (this.#isClosed) return undefined
    const delayMs = refusalRetryDelayMs({ result, retries, nowMs: this.#c.nowMs(), deadlineMs })
    if (delayMs === undefined) return undefined
    this.stats.refusalRetries += 1
    this.#c.syncOwnership?.(replicas.filter((node) => node !== this.#c.self))
    return delayMs
  }

  /**
   * Coordinates a read on the key's replicas under the current placement; stale replicas are
   * repaired with the newest record. (Replicas still streaming a partition in answer with the
   * previous replicas' copy too: `#handleGet`.)
   */
  read(input: { key: string; r: Consistency }): ReadResult | Promise<ReadResult> {
    const placement = this.#c.placement()
    const partition = placement.partitionOf(input.key)
    if (this.#isLocalRead(placement, partition, input.r)) {
      // Answered synchronously: the HTTP route then replies in the same turn, without a
      // promise and microtask hop per request (measured: docs/performance.md).
      return this.#readLocally(input.key)
    }
    return this.#readCoordinated(input, placement, partition)
  }

  /**
   * The read `read` would answer from this node alone (it is the key's only replica and `r`
   * needs one reply), or undefined when the read needs coordinating. Used by the HTTP fast path
   * (`api/fast-path.ts`), which falls back to the full route whenever this is undefined.
   */
  readLocal(key: string, r: Consistency): ReadResult | undefined {
    const placement = this.#c.placement()
    const partition = placement.partitionOf(key)
    return this.#isLocalRead(placement, partition, r) ? this.#readLocally(key) : undefined
  }

  #isLocalRead(placement: Placement, partition: number, r: Consistency): boolean {
    return (
      this.#isSoleReplica(placement, partition) &&
      requiredCount(r, 1) <= 1 &&
      !this.#isStreamingIn(partition)
    )
  }

  async #readCoordinated(
    input: { key: string; r: Consistency },
    placement: Placement,
    partition: number,
  ): Promise<ReadResult> {
    // No retry on the previous placement's replicas when this fails: they may have dropped the
    // partition already, and a quorum of them may miss a write the new replicas acknowledged,
    // so such a retry could answer a quorum read with stale data (the simulator found it: a
    // read long after a join returned "not found" for an acknowledged write; seed 8).
    return this.#readFrom(input, placement.preferenceList(partition))
  }

  #readFrom(input: { key: string; r: Consistency }, replicas: string[]): Promise<ReadResult> {
    this.stats.reads += 1
    return this.#readAttempt(input, replicas, this.#c.nowMs() + this.#s.requestTimeoutMs, 0)
  }

  // One attempt; a failed one is asked again under the placement current then while
  // `refusalRetryDelayMs` says so, within the same deadline.
  #readAttempt(
    input: { key: string; r: Consistency },
    replicas: string[],
    deadlineMs: number,
    retries: number,
  ): Promise<ReadResult> {
    const nowMs = this.#c.nowMs()
    const coordinator = new ReadCoordinator({
      requestId: this.#requestId(),
      key: input.key,
      r: input.r,
      replicas,
      isReachable: this.#c.isReachable,
      nowMs,
      deadlineMs,
      repairDeadlineMs: deadlineMs + this.#s.requestTimeoutMs,
    })
    const attempt = new Promise<ReadResult>((resolve) => {
      const pending: Pending<ReadResult> = { coordinator, resolve, done: false, isAttempt: true }
      this.#reads.set(coordinator.requestId, pending)
      this.#applyRead(pending, coordinator, coordinator.start())
    })
    return attempt.then((result) => {
      const delayMs = this.#retryDelayMs(result, retries, deadlineMs, replicas)
      if (delayMs === undefined) {
        if (!result.ok) this.#countFailure(result.error.code, 'read')
        return result
      }
      return sleep(delayMs).then(() => {
        const placement = this.#c.placement()
        const current = placement.preferenceList(placement.partitionOf(input.key))
        return this.#readAttempt(input, current, deadlineMs, retries + 1)
      })
    })
  }

  // ---- local fast path: this node is the key's only replica ----

  #isSoleReplica(placement: Placement, partition: number): boolean {
    if (placement.replicaCount !== 1) return false
    const owners = placement.owners
    if (owners.length === 1) return owners[0] === this.#c.self
    return placement.preferenceList(partition)[0] === this.#c.self
  }

  // A partition still streaming in answers gets with the previous replicas' copies as well
  // (`#handleGet`): such reads keep the coordinated path.
  #isStreamingIn(partition: number): boolean {
    const state = this.#rebalance.stateOf(partition)
    return state === 'pending' || state === 'receiving'
  }

  /**
   * The read a coordinator would do with one replica that is this node, without the
   * coordinator and the message to itself: the raw record, a record from too far in the future
   * counted as nothing, liveness judged now. No read repair exists with a single replica.
   */
  #readLocally(key: string): ReadResult {
    this.stats.reads += 1
    let stored: StoredRecord | undefined
    try {
      stored = this.#c.engine.getRecord(key)
    } catch (error) {
      this.#c.logger.debug({ err: error, key }, 'local read failed')
      const result = localFailure('GOSSAMER_ERR_QUORUM_NOT_REACHED', this.#c.self, 'failed')
      this.#countFailure(result.error.code, 'read')
      return result
    }
    const newest = this.#isSkewed(stored) ? undefined : stored
    const record = isLive(newest, this.#c.nowMs()) ? newest : undefined
    return { ok: true, record, newest, replies: 1 }
  }

  /**
   * The write a coordinator would do with one replica that is this node: a version from the
   * HLC, last-writer-wins and the condition decided inside the engine's transaction, `stale`
   * counted as an ack, `condition_failed` as a precondition failure, a storage error as a
   * failed replica (and a storage failure of the node). The request still times out at the
   * coordinator's deadline (a pending entry that `#tick` expires).
   */
  #writeLocally(input: ClusterWrite): Promise<ClusterWriteResult> {
    const version = this.#c.hlc.now()
    const record: StoredRecord = {
      version,
      value: input.value,
      expiresAtMs: input.expiresAtMs,
      contentType: input.contentType,
    }
    const requestId = this.#requestId()
    const deadlineMs = this.#c.nowMs() + this.#s.requestTimeoutMs
    this.stats.writes += 1
    this.#index.add(input.key)
    return new Promise<ClusterWriteResult>((resolve) => {
      // One object is the pending entry, its deadline and its result (this path runs once per
      // single-replica PUT: docs/performance.md).
      const local = new LocalWrite(requestId, deadlineMs, version, this.#c.self, resolve)
      this.#writes.set(requestId, local)
      const written = this.#c.engine.write({ key: input.key, record, condition: input.condition })
      this.#lastWrite = written // hand-off pages wait for it after a placement change
      written.then(
        (outcome) => {
          this.#writes.delete(requestId)
          this.#complete(local, localWriteResult(outcome, version, this.#localAcked))
        },
        (error: unknown) => {
          this.#c.onStorageFailure?.(error)
          this.#c.logger.debug({ err: error, key: input.key }, 'local write failed')
          this.#writes.delete(requestId)
          this.#complete(local, {
            ...localFailure('GOSSAMER_ERR_QUORUM_NOT_REACHED', this.#c.self, 'failed'),
            version,
          })
        },
      )
    })
  }

  #countFailure(code: ReplicationErrorCode, kind: 'read' | 'write'): void {
    if (code === 'GOSSAMER_ERR_QUORUM_NOT_REACHED') this.stats.quorumFailures += 1
    if (code === 'GOSSAMER_ERR_TIMEOUT') this.stats.timeouts += 1
    if (kind === 'write') this.stats.writeFailures += 1
    else this.stats.readFailures += 1
  }

  /** The local raw record of a key (admin route; no coordination). */
  localRecord(key: string): StoredRecord | undefined {
    return this.#c.engine.getRecord(key)
  }

  /**
   * Handles a request from a peer (or from this node's own coordinators): the replica side.
   * Resolves with the reply once any write it implies is durable. Rejects for a refused put
   * (clock skew) so the sender counts a failure.
   */
  async handle(from: string, message: ReplicationMessage): Promise<ReplicationMessage | undefined> {
    const nowMs = this.#c.nowMs()
    switch (message.type) {
      case 'put':
        return this.#handlePut(from, message)
      case 'get':
        return this.#handleGet(from, message)
      case 'hint-deliver': {
        this.#checkSkew(message.record)
        const step = handleHintDeliver({ store: this.#c.engine, from, message })
        return this.#persistThenReply(step)
      }
      case 'aae-hashes-request':
      case 'aae-keys':
      case 'aae-push': {
        const incoming =
          message.type === 'aae-push'
            ? { ...message, records: this.#withoutSkewed(message.records) }
            : message
        const step = this.#aae.onMessage(from, incoming, nowMs)
        await this.#persistAll(step.persist)
        return step.send.find((out) => out.to === from)?.message
      }
      case 'handoff-request': {
        await this.#writesBeforePlacement()
        // A node that does not know what it holds, or that places the partition on other
        // replicas than the receiver (the hand-off fence), serves no pages
        // (`handoffSourceRefusal`), and one whose copy may be incomplete says so on every page
        // (`handoffSourceIsPartial`).
        const holding = this.#holdingOf(message.partition)
        const refusal = handoffSourceRefusal(holding, message.replicas)
        if (refusal !== undefined) {
          throw new Error(`handoff-request for partition ${message.partition} refused: ${refusal}`)
        }
        return answerHandoffRequest({
          store: this.#index.reader(message.partition, this.#c.engine),
          request: message,
          partitionOf: (key) => this.#c.placement().partitionOf(key),
          nowMs: this.#c.nowMs(),
          partial: handoffSourceIsPartial(holding),
        })
      }
      case 'handoff-done':
        this.#runRebalance(this.#rebalance.onHandoffDone(from, message))
        return undefined
      default:
        return undefined // replies never arrive as requests
    }
  }

  /** Stops the timer; pending requests fail with a timeout. */
  async close(): Promise<void> {
    if (this.#isClosed) return
    this.#isClosed = true
    clearInterval(this.#timer)
    const farFuture = Number.MAX_SAFE_INTEGER
    for (const pending of this.#writes.values()) {
      const step = pending.coordinator.tick(farFuture)
      if (step.completed !== undefined) this.#complete(pending, step.completed)
    }
    for (const pending of this.#reads.values()) {
      const step = pending.coordinator.tick(farFuture)
      if (step.completed !== undefined) this.#complete(pending, step.completed)
    }
    this.#writes.clear()
    this.#reads.clear()
    this.#handoffWaiting.clear()
  }

  // ---- coordinators ----

  #requestId(): number {
    const id = this.#nextRequestId
    this.#nextRequestId = id >= REQUEST_ID_MAX ? 1 : id + 1
    return id
  }

  #applyWrite(
    pending: Pending<ClusterWriteResult>,
    coordinator: WriteCoordinator,
    step: CoordinatorStep<WriteResult>,
  ): void {
    for (const out of step.send) {
      this.#send(
        out,
        (reply) => {
          // A `stale` ack means "I hold something newer"; when that newer version is from too
          // far in the future (a replica whose clock ran ahead wrote it), it is no durable copy
          // of anything a reader will accept, so it does not count.
          if (
            reply?.type !== 'put-reply' ||
            (reply.status === 'stale' &&
              reply.current !== undefined &&
              this.#isSkewedVersion(reply.current.wallMs))
          ) {
            return this.#applyWrite(
              pending,
              coordinator,
              coordinator.onFailure(out.to, this.#now()),
            )
          }
          this.#applyWrite(pending, coordinator, coordinator.onReply(out.to, reply, this.#now()))
        },
        (error) => {
          if (String((error as Error)?.message).includes(CLOCK_SKEW_CODE)) {
            pending.skewRefusals = (pending.skewRefusals ?? 0) + 1
          }
          this.#applyWrite(pending, coordinator, coordinator.onFailure(out.to, this.#now()))
        },
      )
    }
    if (step.completed !== undefined) {
      this.#complete(pending, { ...step.completed, clockSkewRefusals: pending.skewRefusals })
    }
    if (coordinator.isSettled) this.#writes.delete(coordinator.requestId)
  }

  #applyRead(
    pending: Pending<ReadResult>,
    coordinator: ReadCoordinator,
    step: CoordinatorStep<ReadResult>,
  ): void {
    for (const out of step.send) {
      if (out.message.type === 'put') {
        this.stats.readRepairs += 1
        this.#send(
          out,
          () => {},
          () => {},
        )
        continue
      }
      this.#send(
        out,
        (reply) => {
          if (reply?.type !== 'get-reply') {
            return this.#applyRead(pending, coordinator, coordinator.onFailure(out.to, this.#now()))
          }
          // A record from too far in the future (a replica whose clock ran ahead wrote it) is
          // an unusable answer: it may have replaced that replica's copy of an acknowledged
          // write, so it must not make up a quorum (`ReadCoordinator.onUnusableReply`).
          const step = this.#isSkewed(reply.record)
            ? coordinator.onUnusableReply(out.to, this.#now())
            : coordinator.onReply(out.to, reply, this.#now())
          this.#applyRead(pending, coordinator, step)
        },
        (error) => {
          // The replica answered with a refusal (a failed handler, `routeGet`'s refuse), as
          // opposed to a call that failed or timed out: the request may be retried.
          const refused =
            out.to === this.#c.self ||
            (error instanceof RpcError && error.code === RPC_ERROR_CODES.remote)
          const now = this.#now()
          this.#applyRead(
            pending,
            coordinator,
            refused ? coordinator.onRefusal(out.to, now) : coordinator.onFailure(out.to, now),
          )
        },
      )
    }
    if (step.completed !== undefined) this.#complete(pending, step.completed)
    if (coordinator.isSettled) this.#reads.delete(coordinator.requestId)
  }

  #complete<R extends WriteResult | ReadResult>(pending: Pending<R>, result: R): void {
    if (pending.done) return
    pending.done = true
    // An attempt's failure is counted by the request once it gives up (`#writeCoordinated`,
    // `#readAttempt`).
    if (!result.ok && pending.isAttempt !== true) {
      this.#countFailure(result.error.code, 'version' in result ? 'write' : 'read')
    }
    pending.resolve(result)
  }

  // ---- replica side ----

  /**
   * A `get`, answered as `routeGet` decides: the local record when this node holds the key's
   * partition; a failure when it does not (not joined yet, not a replica, dropped); and while it
   * is still streaming the partition in (it just became a replica, its own copy may miss a write
   * acknowledged under the old placement), the newest of its own record and the records of a
   * read quorum of the partition's old replicas (they keep their copies until this node reports
   * the hand-off done), or a failure when that quorum does not answer in time.
   */
  async #handleGet(
    from: string,
    message: Extract<ReplicationMessage, { type: 'get' }>,
  ): Promise<ReplicationMessage> {
    const route = routeGet({
      ...this.#partitionHolding(message.key),
      forwarded: message.requestId >= FORWARDED_ID_BASE,
      coordinatorReplicas: message.replicas,
    })
    if (route.kind === 'refuse') {
      throw new Error(`get ${message.key} refused: ${route.reason}`)
    }
    if (route.kind === 'local') return handleGet({ store: this.#c.engine, from, message }).message
    const theirs = await this.#readQuorumOf(message, route.sources, route.needed)
    if (theirs === undefined) {
      throw new Error(`get ${message.key}: no read quorum of the previous replicas`)
    }
    // Our own record read now, after the wait: pages streamed in meanwhile count.
    let record = this.#c.engine.getRecord(message.key)
    for (const other of theirs) record = newer(record, other)
    return { type: 'get-reply', requestId: message.requestId, record }
  }

  /**
   * Forwards `message` to every reachable node of `sources` at once; resolves with the records
   * of the first `needed` answers, or undefined as soon as that many can no longer answer.
   * The calls get a quarter of the request timeout, so the coordinator's own call (half of it)
   * does not time out first.
   */
  #readQuorumOf(
    message: Extract<ReplicationMessage, { type: 'get' }>,
    sources: readonly string[],
    needed: number,
  ): Promise<Array<StoredRecord | undefined> | undefined> {
    // Unfenced: the old replicas place the partition by the previous placement.
    const forwarded: Extract<ReplicationMessage, { type: 'get' }> = {
      type: 'get',
      requestId: FORWARDED_ID_BASE + message.requestId,
      key: message.key,
    }
    const targets = sources.filter((node) => this.#c.isReachable(node))
    if (targets.length < needed) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      const records: Array<StoredRecord | undefined> = []
      let failed = 0
      const fail = () => {
        failed += 1
        if (targets.length - failed === needed - 1) resolve(undefined)
      }
      for (const source of targets) {
        this.#c.transport
          .request(source, forwarded, { timeoutMs: Math.max(1, this.#s.requestTimeoutMs / 4) })
          .then(
            (reply) => {
              // A record beyond the skew bound is no usable answer: a failure here (see `#applyRead`).
              if (reply?.type !== 'get-reply' || this.#isSkewed(reply.record)) return fail()
              records.push(reply.record)
              if (records.length === needed) resolve(records)
            },
            () => fail(),
          )
      }
    })
  }

  /** What this node knows of `key`'s partition under its applied placement (`routeGet`, `handlePut`). */
  #partitionHolding(key: string): PartitionHolding {
    return this.#holdingOf(this.#placement?.partitionOf(key))
  }

  /** The same view of one partition (undefined: no placement applied yet). */
  #holdingOf(partition: number | undefined): PartitionHolding {
    const placement = this.#placement
    return {
      self: this.#c.self,
      replicas: partition === undefined ? undefined : placement?.preferenceList(partition),
      handoff: partition === undefined ? undefined : this.#rebalance.stateOf(partition),
      readQuorum: partition === undefined ? undefined : this.#rebalance.readQuorumOf(partition),
      newReplica: partition !== undefined && this.#rebalance.isNewReplicaOf(partition),
    }
  }

  /**
   * A `put`: a hint when it carries `hintFor`; otherwise a replica write, answered `refused`
   * (nothing written) when this node does not hold the key's partition in its applied placement
   * (`handlePut`), so the coordinator counts no ack from it.
   */
  async #handlePut(
    from: string,
    message: Extract<ReplicationMessage, { type: 'put' }>,
  ): Promise<ReplicationMessage | undefined> {
    this.#checkSkew(message.record)
    const step = handlePut({
      store: this.#c.engine,
      hints: this.#hints,
      from,
      message,
      partition: this.#partitionHolding(message.key),
    })
    for (const hint of step.hintPersist) {
      await this.#c.hintStore.apply(hint.writes)
      if (hint.writes.length > 0) this.stats.hintsStored += 1
      const reply = hint.thenSend.find((out) => out.to === from)
      if (reply !== undefined) return reply.message
    }
    for (const after of step.persist) {
      // The engine decides the write again when it commits; its outcome is what the reply
      // reports (a condition can fail there although it held when the put arrived).
      const outcomes = await this.#persist(after.entries)
      return putReplyAfterWrite(after.thenSend[0]?.message, outcomes[0])
    }
    return step.send.find((out) => out.to === from)?.message
  }

  async #persistThenReply(step: AfterPersist): Promise<ReplicationMessage | undefined> {
    await this.#persist(step.entries)
    return step.thenSend[0]?.message
  }

  async #persistAll(steps: readonly AfterPersist[]): Promise<void> {
    for (const step of steps) await this.#persist(step.entries)
  }

  // Waits until every write this node took before it applied the placement now in force is
  // durable (again, if the placement changed meanwhile). A replica put decided under an older
  // placement (from a coordinator on the old view, before this node learnt the change) may
  // still be committing when a receiver asks for its first page: the page would miss it, and the
  // put is acknowledged once it commits, while the hand-off fence already lets this node serve.
  async #writesBeforePlacement(): Promise<void> {
    let barrier = this.#placementWrites
    await barrier
    while (barrier !== this.#placementWrites) {
      barrier = this.#placementWrites
      await barrier
    }
  }

  async #persist(entries: readonly WriteEntry[]): Promise<readonly WriteOutcome[]> {
    if (entries.length === 0) return []
    for (const entry of entries) this.#index.add(entry.key)
    try {
      const written = this.#c.engine.writeBatch(entries)
      this.#lastWrite = written
      return await written
    } catch (error) {
      this.#c.onStorageFailure?.(error)
      throw error
    }
  }

  #isSkewed(record: StoredRecord | undefined): boolean {
    return record !== undefined && this.#isSkewedVersion(record.version.wallMs)
  }

  #isSkewedVersion(wallMs: number): boolean {
    return wallMs - this.#c.nowMs() > this.#s.maxClockSkewMs
  }

  // Refuses a record from the future, and otherwise lets the HLC observe it (causality).
  #checkSkew(record: StoredRecord): void {
    try {
      this.#c.hlc.observe(record.version)
    } catch (error) {
      this.stats.skewRefusals += 1
      // The code leads the message: it travels to the coordinator in the RPC error frame.
      throw new GossamerError(CLOCK_SKEW_CODE, `${CLOCK_SKEW_CODE}: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }

  #withoutSkewed(records: readonly KeyedRecord[]): KeyedRecord[] {
    const kept = records.filter(({ record }) => !this.#isSkewed(record))
    this.stats.skewRefusals += records.length - kept.length
    return kept
  }

  #buildTree(partition: number, shape: HashTree['shape'], nowMs: number): HashTree {
    const options = { nowMs, tombstoneGraceMs: this.#s.tombstoneGraceMs }
    const entries = []
    const reader = this.#index.reader(partition, this.#c.engine)
    let after: string | undefined
    // Bounded: each page advances the cursor through one finite partition.
    for (;;) {
      const page = reader.scan({ after, limit: 1000, includeDead: true, nowMs })
      for (const { key, record } of page.entries) {
        if (this.#isSkewed(record)) continue
        const entry = treeEntry(key, record, options)
        if (entry !== undefined) entries.push(entry)
      }
      if (page.cursor === undefined) break
      after = page.cursor
    }
    return new HashTree(shape, entries)
  }

  // ---- sending ----

  #now(): number {
    return this.#c.nowMs()
  }

  #send(
    out: Outgoing,
    onReply: (reply: ReplicationMessage | undefined) => void,
    onFailure: (error: unknown) => void,
  ): void {
    // Replica calls of a coordinator get half the request deadline, so a silent replica is
    // given up early enough for a fallback to take its copy before the deadline.
    const type = out.message.type
    const timeoutMs =
      type === 'put' || type === 'get' ? Math.max(1, this.#s.requestTimeoutMs / 2) : undefined
    const sent =
      out.to === this.#c.self
        ? this.handle(this.#c.self, out.message)
        : this.#c.transport.request(out.to, out.message, { timeoutMs })
    sent.then(
      (reply) => {
        if (!this.#isClosed) onReply(reply)
      },
      (error: unknown) => {
        if (out.to !== this.#c.self) this.stats.rpcErrors += 1
        this.#c.logger.debug({ err: error, to: out.to, type: out.message.type }, 'request failed')
        if (!this.#isClosed) onFailure(error)
      },
    )
  }

  // ---- timer ----

  #tick(): void {
    if (this.#isClosed) return
    const nowMs = this.#now()
    for (const pending of this.#writes.values()) {
      const coordinator = pending.coordinator as WriteCoordinator
      this.#applyWrite(pending, coordinator, coordinator.tick(nowMs))
    }
    for (const pending of this.#reads.values()) {
      const coordinator = pending.coordinator as ReadCoordinator
      this.#applyRead(pending, coordinator, coordinator.tick(nowMs))
    }
    this.#retargetHints()
    for (const out of this.#hints.tick(nowMs)) this.#sendHint(out)
    this.#runAntiEntropy(this.#aae.tick(nowMs, this.#c.isReachable).send)
    this.#handoffTokens = Math.min(
      this.#handoffTokensMax,
      this.#handoffTokens + this.#handoffTokensPerTick,
    )
    this.#releaseHandoffRequests()
    this.#runRebalance(this.#rebalance.tick(nowMs, this.#c.isReachable, this.#c.isOwner))
    if (nowMs >= this.#nextDrainCheckMs) {
      this.#nextDrainCheckMs = nowMs + DRAIN_CHECK_MS
      this.#drainStuckHandOffs(nowMs)
    }
  }

  // An old replica normally drops a partition when its receivers report handoff-done. Nodes
  // that saw ownership changes in different orders may never send the report this node waits
  // for; after `handOffWaitMs` it copies its records of the partition to the current replicas
  // itself (plain puts, last-writer-wins) and drops it once every copy is acknowledged.
  #drainStuckHandOffs(nowMs: number): void {
    const placement = this.#placement
    if (placement === undefined) return
    for (let p = 0; p < placement.partitionCount; p++) {
      if (this.#rebalance.stateOf(p) !== 'handing-off') {
        this.#handOffSinceMs.delete(p)
        continue
      }
      const since = this.#handOffSinceMs.get(p)
      if (since === undefined) this.#handOffSinceMs.set(p, nowMs)
      else if (
        nowMs - since >= this.#handOffWaitMs() &&
        !this.#draining.has(p) &&
        this.#draining.size < DRAINS_MAX
      ) {
        this.#draining.add(p)
        this.stats.handoffDrains += 1
        this.#drainPartition(p)
          .then((done) => {
            if (done) this.#runRebalance(this.#rebalance.completeHandOff(p))
          })
          .catch((error: unknown) =>
            this.#c.logger.debug({ err: error, partition: p }, 'drain failed'),
          )
          .finally(() => this.#draining.delete(p))
      }
    }
  }

  #handOffWaitMs(): number {
    return Math.max(10_000, 2 * this.#s.requestTimeoutMs)
  }

  async #drainPartition(partition: number): Promise<boolean> {
    const placement = this.#placement
    if (placement === undefined) return false
    const replicas = placement.preferenceList(partition).filter((n) => n !== this.#c.self)
    if (replicas.length === 0 || !replicas.every((n) => this.#c.isReachable(n))) return false
    const reader = this.#index.reader(partition, this.#c.engine)
    let after: string | undefined
    // Bounded: each page advances the cursor through one finite partition.
    for (;;) {
      const page = reader.scan({ after, limit: 200, includeDead: true, nowMs: this.#now() })
      const calls: Array<Promise<ReplicationMessage | undefined>> = []
      for (const { key, record } of page.entries) {
        for (const to of replicas) {
          const message: ReplicationMessage = {
            type: 'put',
            requestId: this.#requestId(),
            key,
            record,
          }
          calls.push(this.#c.transport.request(to, message))
        }
      }
      const replies = await Promise.all(calls)
      if (replies.some((reply) => reply?.type !== 'put-reply' || reply.status === 'refused')) {
        return false
      }
      if (page.cursor === undefined) return true
      after = page.cursor
    }
  }

  // Hints held for a node that left the ownership set (left, or removed) would never be
  // delivered: they go to the keys' current replicas instead, a copy for this node into its
  // own store (`HintedHandoff.retarget`). Only under an applied placement: before this node
  // joined, its placement may be partial and would make every other owner look departed.
  #retargetHints(): void {
    const placement = this.#placement
    if (placement === undefined) return
    const owners = new Set(placement.owners)
    if (this.#hints.heldFor().every((node) => owners.has(node))) return
    const step = this.#hints.retarget({
      self: this.#c.self,
      isOwner: (node) => owners.has(node),
      replicasOf: (key) => placement.preferenceList(placement.partitionOf(key)),
    })
    this.stats.hintsRetargeted += step.retargeted
    this.stats.hintsDropped += step.dropped
    if (step.removals.length === 0) return
    // The new hints go to the store now, in order with every other hint write (an ack of their
    // delivery removes them later); the old hints only once those and the local copies are
    // durable.
    Promise.all([this.#c.hintStore.apply(step.writes), this.#persist(step.local)])
      .then(() => this.#c.hintStore.apply(step.removals))
      .catch((error: unknown) => this.#c.logger.warn({ err: error }, 'hint re-targeting failed'))
  }

  #sendHint(out: Outgoing): void {
    if (out.message.type !== 'hint-deliver') return
    const deliveryId = out.message.deliveryId
    this.#send(
      out,
      (reply) => {
        if (reply?.type !== 'hint-ack') return this.#hints.onFailure(out.to, deliveryId)
        const step = this.#hints.onAck(out.to, reply, this.#now())
        this.stats.hintsDelivered += step.writes.length
        Promise.resolve(this.#c.hintStore.apply(step.writes)).then(
          () => {
            for (const next of step.send) this.#sendHint(next)
          },
          (error: unknown) => this.#c.logger.warn({ err: error }, 'hint store write failed'),
        )
      },
      () => this.#hints.onFailure(out.to, deliveryId),
    )
  }

  #runAntiEntropy(send: readonly Outgoing[]): void {
    for (const out of send) {
      this.#send(
        out,
        (reply) => {
          if (reply === undefined) return
          if (reply.type === 'aae-keys-reply') {
            reply = { ...reply, records: this.#withoutSkewed(reply.records) }
          }
          const step = this.#aae.onMessage(out.to, reply, this.#now())
          this.#persistAll(step.persist).catch((error: unknown) =>
            this.#c.logger.warn({ err: error }, 'anti-entropy write failed'),
          )
          this.#runAntiEntropy(step.send)
        },
        () => this.#aae.onFailure(out.to),
      )
    }
  }

  #runRebalance(step: RebalanceStep): void {
    if (step.drop.length > 0) this.#drop(step.drop)
    for (const out of step.send) this.#sendRebalance(out)
    for (const after of step.persist) {
      this.stats.handoffRecords += after.entries.length
      for (const { key, record } of after.entries) {
        this.stats.handoffBytes += Buffer.byteLength(key) + (record.value?.byteLength ?? 0)
      }
      this.#persist(after.entries).then(
        () => {
          for (const out of this.#widenHandoffDone(after.thenSend)) this.#sendRebalance(out)
          // The partition counts as received once its last page is durable (`onPersisted`).
          const partition = after.page?.partition
          if (partition === undefined) return
          const wasReceiving = this.#rebalance.stateOf(partition) === 'receiving'
          this.#rebalance.onPersisted(after.page)
          if (wasReceiving && this.#rebalance.stateOf(partition) === 'received') {
            this.stats.handoffPartitions += 1
          }
        },
        (error: unknown) => {
          this.#c.logger.warn({ err: error }, 'handoff write failed')
          this.#rebalance.onPersisted(after.page, false)
        },
      )
    }
  }

  // A receiver's plan may differ from an old replica's (they saw the ownership changes in a
  // different order), so "you may drop it" goes to every owner that is not a replica of the
  // partition now, not just the ones this node's plan named; an old replica ignores it unless
  // it awaits this receiver.
  #widenHandoffDone(sends: readonly Outgoing[]): Outgoing[] {
    const placement = this.#placement
    if (placement === undefined) return [...sends]
    const out: Outgoing[] = []
    for (const send of sends) {
      if (send.message.type !== 'handoff-done') {
        out.push(send)
        continue
      }
      const replicas = placement.preferenceList(send.message.partition)
      const targets = new Set([send.to])
      for (const owner of placement.owners) if (!replicas.includes(owner)) targets.add(owner)
      targets.delete(this.#c.self)
      for (const to of targets) out.push({ to, message: send.message })
    }
    return out
  }

  #sendRebalance(out: Outgoing): void {
    const message = out.message
    if (message.type !== 'handoff-request') {
      this.#sendRebalanceNow(out)
      return
    }
    if (this.#handoffTokens <= 0 || this.#handoffWaiting.size > 0) {
      // FIFO: a request that finds others waiting queues behind them. A newer request for the
      // same partition (the core switched source) replaces the older one.
      this.#handoffWaiting.set(message.partition, out)
      return
    }
    this.#sendRebalanceNow(out)
  }

  // Sends waiting handoff-requests while tokens last (on every tick, after the refill).
  #releaseHandoffRequests(): void {
    // Bounded by the queue's size (at most one request per partition).
    for (const [partition, out] of this.#handoffWaiting) {
      if (this.#handoffTokens <= 0) return
      this.#handoffWaiting.delete(partition)
      // A transfer cancelled or finished meanwhile needs its request no more.
      if (this.#rebalance.stateOf(partition) !== 'receiving') continue
      this.#sendRebalanceNow(out)
    }
  }

  #sendRebalanceNow(out: Outgoing): void {
    this.#send(
      out,
      (reply) => {
        if (reply?.type !== 'handoff-batch') return
        this.#handoffTokens -= reply.entries.length
        const batch = { ...reply, entries: this.#withoutSkewed(reply.entries) }
        this.#runRebalance(this.#rebalance.onBatch(out.to, batch, this.#now()))
      },
      (error) => {
        if (out.message.type !== 'handoff-request') return
        this.#rebalance.onFailure(out.to)
        // A source that refused (`handoffSourceRefusal`: not joined yet, or on another view of
        // the partition's replicas) and this node exchange ownership state now, so the one that
        // is behind learns the other's view before the request is asked again, instead of at the
        // next push/pull (up to 30 s, past the old replicas' drain wait).
        if (error instanceof RpcError && error.code === RPC_ERROR_CODES.remote) {
          this.#c.syncOwnership?.([out.to])
        }
      },
    )
  }

  #drop(partitions: readonly number[]): void {
    const drop = this.#c.dropPartition
    if (drop === undefined) return // the engine cannot drop: the records stay (harmless)
    for (const partition of partitions) {
      drop(partition).then(
        () => {
          this.#index.forget(partition)
          this.stats.partitionsDropped += 1
        },
        (error: unknown) => this.#c.logger.warn({ err: error, partition }, 'drop failed'),
      )
    }
  }
}

const NOTHING_TO_SEND: CoordinatorStep<never> = { send: [] }

/**
 * Page size and inbound transfers streaming at once under the handoff rate limit. The rebalance
 * core gives up on a source that has not answered within `requestTimeoutMs` of its request (and
 * restarts the pass from another), and a request may first wait for handoff tokens: the pages
 * in flight can put the bucket into debt by up to transfers × page size, repaid in
 * transfers × page size / handoffRecordsPerSec. Both are chosen to keep that wait under half
 * the request timeout: pages of at most a quarter of the timeout's worth of records (at most
 * the core's 500), and as many transfers as fit (at least 1, at most the core's 32). With the
 * defaults (2,000 records/s, 5 s) that is 500 × 10; a test's 1,000/s with 1 s: 250 × 2.
 */
export function handoffPacing(settings: ReplicationDriverSettings): {
  batchLimit: number
  maxConcurrentTransfers: number
} {
  const budget = (settings.handoffRecordsPerSec * settings.requestTimeoutMs) / 1000 / 2
  const batchLimit = Math.max(1, Math.min(REBALANCE_DEFAULTS.batchLimit, Math.floor(budget / 2)))
  const maxConcurrentTransfers = Math.max(
    1,
    Math.min(REBALANCE_DEFAULTS.maxConcurrentTransfers, Math.floor(budget / batchLimit)),
  )
  return { batchLimit, maxConcurrentTransfers }
}

/**
 * A local write's entry in `#writes`: its own coordinator, so that `#tick` and `close` expire it
 * at the deadline a coordinator would have.
 */
class LocalWrite implements Pending<ClusterWriteResult> {
  readonly coordinator: LocalWrite = this
  done = false
  #timedOut = false
  readonly #requestId: number
  readonly #deadlineMs: number
  readonly #version: WriteResult['version']
  readonly #self: string
  readonly resolve: (result: ClusterWriteResult) => void

  constructor(
    requestId: number,
    deadlineMs: number,
    version: WriteResult['version'],
    self: string,
    resolve: (result: ClusterWriteResult) => void,
  ) {
    this.#requestId = requestId
    this.#deadlineMs = deadlineMs
    this.#version = version
    this.#self = self
    this.resolve = resolve
  }

  get requestId(): number {
    return this.#requestId
  }

  get isSettled(): boolean {
    return this.#timedOut
  }

  tick(nowMs: number): CoordinatorStep<ClusterWriteResult> {
    if (this.#timedOut || nowMs < this.#deadlineMs) return NOTHING_TO_SEND
    this.#timedOut = true
    return {
      send: [],
      completed: {
        ...localFailure('GOSSAMER_ERR_TIMEOUT', this.#self, 'failed'),
        version: this.#version,
      },
    }
  }
}

function localFailure(
  code: ReplicationErrorCode,
  self: string,
  status: ReplicaReport['status'],
): { readonly ok: false; readonly error: ReplicationFailure } {
  const verb = code === 'GOSSAMER_ERR_TIMEOUT' ? 'timed out with' : 'reached only'
  return {
    ok: false,
    error: {
      code,
      message: `${verb} 0 of 1 required replica answers`,
      required: 1,
      received: 0,
      replicas: [{ node: self, status }],
    },
  }
}

function localWriteResult(
  outcome: WriteOutcome,
  version: WriteResult['version'],
  acked: readonly ReplicaReport[],
): ClusterWriteResult {
  if (outcome.status === 'condition_failed') {
    return {
      ...localFailure('GOSSAMER_ERR_PRECONDITION_FAILED', acked[0]!.node, 'rejected'),
      version,
    }
  }
  // `stale`: this node already holds a newer version, which the write is superseded by.
  const previous = outcome.status === 'applied' ? outcome.previous : outcome.current
  return {
    ok: true,
    version,
    acks: 1,
    replicas: acked,
    local: { previous },
  }
}

function newer(a: StoredRecord | undefined, b: StoredRecord | undefined): StoredRecord | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return compareVersions(b.version, a.version) > 0 ? b : a
}
