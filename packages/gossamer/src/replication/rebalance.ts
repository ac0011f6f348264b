/**
 * Rebalancing (architecture §5–6): when the ownership set changes, every partition whose
 * replica set changed is streamed to its new replicas before its old replicas drop it.
 *
 * Planning is a pure function of the old and new placements (`planRebalance`), so every node
 * computes the same plan: for each partition, each new replica that was not an old one receives
 * the partition (a move, with the old replicas as sources in preference order), and each old
 * replica that is not a new one drops it once every move of that partition is done. When the
 * replica set shrinks (fewer owners than N after the change), every new replica receives,
 * staying ones included: otherwise nobody would, and the dropping replica's writes could be
 * left on fewer than a quorum of the new replicas.
 *
 * Streaming is pulled by the receiver (`Rebalance`): it asks a source for one page at a time
 * (`handoff-request` → `handoff-batch`, key order, resumable by cursor), persists the page
 * (last-writer-wins, so pages merge safely with writes arriving meanwhile), then asks for the
 * next; the partition counts as received only once every page is durable (`onPersisted`).
 * The receiver streams the whole partition from a READ QUORUM of the old replicas (⌊N/2⌋+1
 * distinct sources, one full pass each), not from one: a write acknowledged by a quorum
 * of the old replicas need not be on any single one of them, and once this receiver reports
 * done an old replica drops its copy, so a copy streamed from one source could leave the write
 * on fewer than a quorum of the new replicas (found by the whole-cluster simulator, seed 80).
 * A source that fails or stays silent for `requestTimeoutMs` is replaced by the next reachable
 * source that has not completed a pass; a pass interrupted that way starts over on the new
 * source (a pass counts only when one source delivered all of it).
 *
 * Sources follow where the data is. The candidates are the old replicas, then the owners still
 * leaving (`applyPlan`'s `holders`), which keep their copies until their receivers are done and
 * may be the only nodes holding writes acknowledged while they were replicas, then every other
 * owner (`applyPlan`'s `owners`): a receiver whose plan guessed its old replicas (a node that
 * rejoins after leaving plans from "the owners minus itself") or was made under another view
 * may have the real old replicas among them, handing the partition off (whole-cluster
 * simulator, swarm seed 5442). A source whose own copy may be incomplete (it still streams the
 * partition in, dropped it, or holds only leftovers: `replica.ts` `handoffSourceIsPartial`)
 * marks its pages `partial`: they are merged, but the pass does not count. When every candidate
 * has delivered a pass and fewer than the read quorum were complete, no complete copy is left
 * to wait for (refusing partial sources outright deadlocked once the only holder had drained
 * its copy and dropped it), and the partition is received as the union of every pass; a holder
 * or other owner that is unreachable is waited for `requestTimeoutMs` first, an old replica for
 * as long as it takes (whole-cluster simulator, swarm seed 18135).
 *
 * Every request carries the partition's replicas in the placement the receiver applies now (the
 * hand-off fence, `HandoffRequestMessage.replicas`), and a source whose applied placement gives
 * the partition other replicas refuses (`replica.ts` `handoffSourceRefusal`): a pass counts only
 * from a source that knows the change, and such an old replica refuses the old placement's puts
 * from then on, so a finished receiver cannot miss a write a quorum of old replicas on the old
 * view acknowledged after their passes. A refusal is a failure (`onFailure`), never an answer:
 * the refused source is asked again in its turn, counts no pass, and does not let the receiver
 * settle for the union; the drivers push/pull ownership state with it, so whichever side is
 * behind learns the other's view.
 *
 * After the last pass the receiver tells the dropping old replicas and the leaving holders
 * (`handoff-done`); an old replica drops a partition
 * only when every receiver of that partition has said so — so while a receiver is still
 * streaming, every old replica still holds its copy, and the receiver answers reads with the
 * newest record of its own and of a read quorum of them (`readQuorumOf`, used by the drivers).
 * A joining node is ready (`isReady`) when it has no inbound transfer left. Sources answer with
 * `answerHandoffRequest`, statelessly.
 *
 * What the plan does not cover: records written to the old replicas after a receiver passed
 * their key in the stream. Coordinators write to the new replicas as soon as the new placement
 * is in force, so such a record is a concurrent write that anti-entropy reconciles.
 */
import type { ScanOptions, ScanPage } from '../storage/engine.ts'
import type {
  AfterPersist,
  HandoffBatchMessage,
  HandoffDoneMessage,
  HandoffRequestMessage,
  KeyedRecord,
  Outgoing,
} from './messages.ts'

/** One partition moving to a new replica. */
export interface PartitionMove {
  readonly partition: number
  /** The new replica. */
  readonly to: string
  /** The old replicas, in preference order: where to stream from. */
  readonly sources: readonly string[]
}

/** What changes hands when the placement changes. */
export interface RebalancePlan {
  readonly moves: readonly PartitionMove[]
  /** Old replicas that stop replicating a partition, with the receivers they wait for. */
  readonly drops: ReadonlyArray<{
    readonly partition: number
    readonly node: string
    readonly awaiting: readonly string[]
  }>
}

/**
 * The plan for a placement change. `oldReplicas(p)` and `newReplicas(p)` are the first N owners
 * of partition p before and after (e.g. `Placement.preferenceList`). A partition without old
 * replicas (a new cluster) moves nothing: there is nothing to stream.
 */
export function planRebalance(input: {
  readonly partitionCount: number
  readonly oldReplicas: (partition: number) => readonly string[]
  readonly newReplicas: (partition: number) => readonly string[]
}): RebalancePlan {
  const moves: PartitionMove[] = []
  const drops: Array<{ partition: number; node: string; awaiting: string[] }> = []
  for (let partition = 0; partition < input.partitionCount; partition++) {
    const before = input.oldReplicas(partition)
    const after = input.newReplicas(partition)
    // A replica set that shrinks (fewer owners than N after the change) has fewer receivers
    // than old replicas dropping out, so the new set is not guaranteed to hold a write quorum's
    // worth of copies: a write acknowledged by {leaver, one stayer} of N=3 is left on one of
    // the two new replicas, and the next drop that trusts the stayers loses it. There every new
    // replica receives, staying ones included (each from a read quorum of the old replicas,
    // counting its own copy), and the dropping replicas wait for all of them (found by the
    // whole-cluster simulator, swarm seed 10024).
    const shrinks = after.length < before.length
    const receivers = after.filter((node) => shrinks || !before.includes(node))
    if (before.length > 0) {
      for (const to of receivers) moves.push({ partition, to, sources: before })
    }
    for (const node of before) {
      if (!after.includes(node))
        drops.push({ partition, node, awaiting: before.length > 0 ? receivers : [] })
    }
  }
  return { moves, drops }
}

/**
 * The owners whose placement a node's data is laid out by when it applies its first placement
 * after it starts (the drivers' `#previousFor`), or undefined for no plan. `owners` are the
 * members of the placement being applied.
 *
 * - A node with an empty store, or one the cluster had removed (`rejoinedAfterRemoval`),
 *   streams its partitions in: the placement of the others.
 * - A member restarting on its data is laid out by the placement of the ownership set it
 *   persisted (`persistedOwners`, the runtime's `cluster-state.json`, when it was a member
 *   there). If the ownership set changed while it was down, the plan from there moves the
 *   partitions it gained to it, from a read quorum of their old replicas, and hands off the
 *   ones it lost. With no plan it answered gets and puts for a partition it gained while down
 *   as a complete replica, holding nothing or an older copy, and the old replicas awaiting it
 *   as a receiver waited for nothing (found by the whole-cluster simulator, swarm seed 8025).
 *   Unchanged membership gives the same placement: an empty plan. A member that restarts as
 *   the only owner left plans the same way (its old replicas are the leavers still handing
 *   the partitions off); it used to get no plan there, and answered every read alone from the
 *   copy it had when it went down (found by the whole-cluster simulator, swarm seed 18135: n3,
 *   n4 and n5 left while n6 was down, and the writes acknowledged meanwhile were on n4 and n5
 *   only).
 */
export function ownersBeforeStart(input: {
  readonly self: string
  readonly owners: readonly string[]
  readonly storeWasEmpty: boolean
  readonly rejoinedAfterRemoval: boolean
  readonly persistedOwners: readonly string[] | undefined
}): readonly string[] | undefined {
  const { self, owners, persistedOwners } = input
  if (!owners.includes(self)) return undefined
  if (input.storeWasEmpty || input.rejoinedAfterRemoval) {
    const others = owners.filter((name) => name !== self)
    return others.length === 0 ? undefined : others
  }
  if (persistedOwners === undefined || !persistedOwners.includes(self)) return undefined
  return persistedOwners.length > 1 ? persistedOwners : undefined
}

/** Settings of the receiver. Plain data. */
export interface RebalanceConfig {
  /** Records per `handoff-batch`. @default 500 */
  readonly batchLimit: number
  /** A source silent this long is replaced by the next one. @default 10_000 */
  readonly requestTimeoutMs: number
  /**
   * Inbound transfers in progress at once. Most transfers of a young cluster are empty
   * partitions (one request, one empty page), so the bound is wide enough to keep many round
   * trips in flight; a transfer that finishes starts the next one at once (`onBatch`), not on
   * the next tick. @default 32
   */
  readonly maxConcurrentTransfers: number
}

/** Bounds of the early handoff-done memory (partitions, receivers per partition). */
const EARLY_DONE_PARTITIONS_MAX = 65_536
const EARLY_DONE_RECEIVERS_MAX = 64

/** Defaults for {@link RebalanceConfig}. */
export const REBALANCE_DEFAULTS: RebalanceConfig = {
  batchLimit: 500,
  requestTimeoutMs: 10_000,
  maxConcurrentTransfers: 32,
}

/** Handoff state of one partition on this node. */
export type HandoffState =
  /** Inbound, not started yet. */
  | 'pending'
  /** Inbound, streaming. */
  | 'receiving'
  /** Inbound, all pages persisted. */
  | 'received'
  /** Outbound: this node still holds the partition until its receivers are done. */
  | 'handing-off'
  /** Outbound: every receiver is done; the data was dropped. */
  | 'dropped'

/**
 * A streamed page to persist. Once its write is durable, the driver sends `thenSend` and calls
 * `onPersisted(page)` (with `false` if the write failed).
 */
export interface HandoffPersist extends AfterPersist {
  readonly page?: { readonly partition: number; readonly transfer: number } | undefined
}

/** What one input produced. `drop`: partitions whose local data the driver may now delete. */
export interface RebalanceStep {
  readonly send: readonly Outgoing[]
  readonly persist: readonly HandoffPersist[]
  readonly drop: readonly number[]
}

interface Inbound {
  readonly partition: number
  /** The old replicas of the plan (what `readQuorumOf` reports). */
  readonly sources: readonly string[]
  /**
   * This node was one of the plan's old replicas too (a replica set that shrinks: every new
   * replica receives, staying ones included). `isNewReplicaOf` is false for it.
   */
  readonly wasReplica: boolean
  /**
   * Where passes may come from, in the order they are asked: the old replicas, then the
   * holders outside the plan (`applyPlan`'s `holders`: owners still leaving, which keep their
   * copies until their receivers are done), then the other owners (`applyPlan`'s `owners`).
   * Grows when a later plan names more holders or owners.
   */
  readonly candidates: string[]
  /** Distinct sources that must each deliver a full pass: a read quorum of the old replicas. */
  readonly needed: number
  /** Sources that delivered a full pass of a complete copy (no `partial` page). */
  readonly passed: Set<string>
  /** Sources that delivered a full pass, complete or partial: not asked again. */
  readonly answered: Set<string>
  /** A page of the pass under way said `partial`. */
  passPartial: boolean
  /**
   * Since when no candidate was left to ask while fewer than `needed` complete passes are in
   * and some candidate has not answered (it is unreachable): after `requestTimeoutMs` of that,
   * with every old replica's pass in, the transfer completes with what it merged (`tick`).
   */
  stalledSinceMs: number | undefined
  /** Old replicas (and holders) that wait for our handoff-done. */
  readonly notify: readonly string[]
  state: 'pending' | 'receiving' | 'received'
  /** Identifies this transfer in `HandoffPersist.page`. */
  readonly id: number
  /** Pages handed to the driver to persist and not yet reported durable (`onPersisted`). */
  unpersisted: number
  /** Every pass delivered: 'received' once `unpersisted` is 0. */
  isComplete: boolean
  sourceTurn: number
  source?: string | undefined
  transferId: number
  after?: string | undefined
  deadlineMs: number
}

interface Outbound {
  readonly awaiting: Set<string>
  state: 'handing-off' | 'dropped'
  /**
   * Set when this node was still streaming the partition in (pending or receiving) when a new
   * plan made it an old replica: its copy may miss writes acknowledged under the placement
   * before. `readQuorumOf` reports it, so `routeGet` refuses even the gets a receiver forwards
   * (a handing-off node refuses coordinators' gets anyway: `partitionRefusal`).
   */
  readonly incomplete?: { readonly sources: readonly string[]; readonly needed: number }
}

/** One node's side of rebalancing: receiver of moves, holder of partitions to drop. */
export class Rebalance {
  readonly self: string
  readonly config: RebalanceConfig
  readonly #inbound = new Map<number, Inbound>()
  readonly #outbound = new Map<number, Outbound>()
  // handoff-done messages that arrived before this node applied the plan they belong to (the
  // receiver learned of the change first): partition → receivers. Bounded by partitions ×
  // nodes; consumed when the plan arrives.
  readonly #doneEarly = new Map<number, Set<string>>()
  #nextTransferId = 1
  // The reachability view of the last tick: lets a finished transfer start the next one at once.
  #isReachable: (node: string) => boolean = () => true
  // The hand-off fence of every request (`HandoffRequestMessage.replicas`): the new replicas of
  // the last plan applied (`applyPlan`'s `newReplicas`), i.e. the partition's replicas in the
  // placement this node applies now, whichever plan its transfer began under.
  #fenceOf: ((partition: number) => readonly string[]) | undefined

  constructor(input: { self: string; config?: Partial<RebalanceConfig> | undefined }) {
    this.self = input.self
    this.config = { ...REBALANCE_DEFAULTS, ...input.config }
  }

  /**
   * A new plan is in force. Inbound transfers that still apply keep their progress (a move to
   * this node in the plan, or a partition it stays a replica of); the rest are cancelled.
   * Partitions this node drops without waiting for anyone are dropped now.
   */
  applyPlan(
    plan: RebalancePlan,
    options: {
      /**
       * The new replicas of each partition. When given, partitions this node is still handing
       * off under an EARLIER plan re-target their wait: receivers that are no longer replicas
       * are forgotten (they stopped streaming) and this plan's receivers are awaited instead,
       * so an old replica is never left waiting for a node that will not report. Every
       * `handoff-request` sent from now on carries them as its fence
       * (`HandoffRequestMessage.replicas`; absent when not given).
       */
      readonly newReplicas?: ((partition: number) => readonly string[]) | undefined
      /**
       * Nodes that may hold partitions outside the plan's old replicas: the owners still
       * leaving (the drivers pass the ownership set's `leaving` names). A leaver keeps its
       * copies until its receivers report done, and writes acknowledged while it was a replica
       * may be on the leavers only; a receiver whose old replicas cannot give it enough
       * complete passes asks them next (and tells them when it is done). Found by the
       * whole-cluster simulator, swarm seed 18135: n4 and n5 left while n6 was down, and
       * nodes that rejoined streamed from the owners (each other, and n6's stale copy) only.
       */
      readonly holders?: readonly string[] | undefined
      /**
       * Every owner of the placement being applied (the drivers pass its `owners`), asked last,
       * after the old replicas and the holders, when those do not give enough complete passes.
       * The plan's old replicas are a guess when this node rejoins after leaving or being
       * removed ("the owners minus itself": `ownersBeforeStart`), or when its view of the
       * previous placement differs from the others'; the nodes that really hold the partition
       * (old replicas handing it off under their own plan) are owners too, and a source says
       * whether its copy is complete (`handoffSourceIsPartial`). Under one view every owner
       * whose copy is complete is a replica or an old replica of the partition, so complete
       * passes from them are what the old replicas would have given. Without them, a receiver
       * whose guessed sources all answered partial settled for the union of empty passes, and
       * the real old replicas, which await exactly this receiver, dropped their copies on its
       * handoff-done (found by the whole-cluster simulator, swarm seed 5442: four leavers
       * restarted after a power loss and rejoined at once, each streaming from the others, and
       * an acknowledged write held by n1, n2 and n4 was dropped everywhere).
       */
      readonly owners?: readonly string[] | undefined
    } = {},
  ): RebalanceStep {
    const holders = (options.holders ?? []).filter((node) => node !== this.self)
    const others = (options.owners ?? []).filter((node) => node !== this.self)
    // Requests from now on carry this plan's replica sets (a transfer that goes on under this
    // plan streams for the placement applied now: a source still on the one its transfer began
    // under refuses, and learns the change from this node's ownership sync).
    this.#fenceOf = options.newReplicas
    const wanted = new Map<number, PartitionMove>()
    for (const move of plan.moves) if (move.to === this.self) wanted.set(move.partition, move)
    const dropsHere = new Set(
      plan.drops.filter((d) => d.node === this.self).map((d) => d.partition),
    )
    // A transfer in progress for a partition this node stays a replica of (no move to it in
    // this plan: it was a replica under the previous placement too) keeps going: its copy is
    // not complete yet, and treating it as complete (stateOf undefined: a plain replica) let a
    // read quorum of two such partial copies miss acknowledged writes and deletes (found by
    // the whole-cluster simulator, swarm seed 2086). The old replicas it streams from still
    // await it (`#retarget` keeps receivers that are still replicas).
    const staysReplica = (partition: number): boolean =>
      options.newReplicas !== undefined
        ? options.newReplicas(partition).includes(this.self)
        : !dropsHere.has(partition)
    // Transfers cut short by this plan: a node that now hands such a partition off holds an
    // incomplete copy (swarm seed 2084, below).
    const cutShort = new Map<number, { sources: readonly string[]; needed: number }>()
    for (const partition of [...this.#inbound.keys()]) {
      const current = this.#inbound.get(partition)!
      if (wanted.has(partition) || current.state === 'received') continue
      if (!dropsHere.has(partition) && staysReplica(partition)) continue
      cutShort.set(partition, { sources: current.sources, needed: current.needed })
      this.#inbound.delete(partition)
    }
    const notifyByPartition = new Map<number, string[]>()
    for (const drop of plan.drops) {
      const list = notifyByPartition.get(drop.partition) ?? []
      list.push(drop.node)
      notifyByPartition.set(drop.partition, list)
    }
    for (const [partition, move] of wanted) {
      // This node receives the partition, so it must not drop it on a late handoff-done of an
      // earlier plan in which it was the old replica.
      this.#outbound.delete(partition)
      const existing = this.#inbound.get(partition)
      // A transfer in progress keeps going. One 'received' under an earlier plan does not
      // count: a move in this plan means this node was not a replica before it (its copy may
      // be stale: it handed the partition off meanwhile), or that the replica set shrinks and
      // its copy may miss writes the dropping replicas acknowledged; it is streamed again.
      if (existing !== undefined && existing.state === 'receiving') continue
      const sources = move.sources.filter((node) => node !== this.self)
      this.#inbound.set(partition, {
        partition,
        sources,
        candidates: [...new Set([...sources, ...holders, ...others])],
        needed: readQuorumSize(move.sources, this.self),
        wasReplica: move.sources.includes(this.self),
        passed: new Set(),
        answered: new Set(),
        passPartial: false,
        stalledSinceMs: undefined,
        notify: [...new Set([...(notifyByPartition.get(partition) ?? []), ...holders])].filter(
          (node) => node !== this.self,
        ),
        state: 'pending',
        id: this.#nextTransferId++,
        unpersisted: 0,
        isComplete: false,
        sourceTurn: 0,
        transferId: 0,
        deadlineMs: 0,
      })
    }
    // Transfers that go on (still receiving, or a partition this node stays a replica of) may
    // take their passes from the holders and owners this plan names too.
    for (const transfer of this.#inbound.values()) {
      if (transfer.state === 'received') continue
      for (const node of [...holders, ...others]) {
        if (!transfer.candidates.includes(node)) transfer.candidates.push(node)
      }
    }
    const drop: number[] = []
    for (const entry of plan.drops) {
      if (entry.node !== this.self || this.#outbound.get(entry.partition)?.state === 'dropped') {
        continue
      }
      // This node hands the partition off now: a transfer it received under an earlier plan
      // is over, and must not hide the hand-off (`stateOf` reads inbound first, so a stale
      // 'received' made `outboundPending` miss it and a graceful leave stop before its
      // receivers had pulled the data — found by the simulator, seed 21).
      this.#inbound.delete(entry.partition)
      // A transfer this plan cut short leaves a copy that may miss writes a quorum of the
      // previous replicas acknowledged: no get is answered from it (`Outbound.incomplete`; found by the
      // whole-cluster simulator, swarm seed 2084: a node streaming a partition in left before
      // its second pass, answered a quorum read from its partial copy as an old replica, and
      // with a replica that had missed the write returned an older value).
      const incomplete = cutShort.get(entry.partition)
      const outbound: Outbound = {
        awaiting: new Set(entry.awaiting),
        state: 'handing-off',
        ...(incomplete === undefined ? {} : { incomplete }),
      }
      for (const receiver of this.#doneEarly.get(entry.partition) ?? []) {
        outbound.awaiting.delete(receiver)
      }
      this.#outbound.set(entry.partition, outbound)
      if (outbound.awaiting.size === 0) {
        outbound.state = 'dropped'
        drop.push(entry.partition)
      }
    }
    if (options.newReplicas !== undefined) {
      this.#retarget(plan, options.newReplicas, new Set(drop), drop)
    }
    // Early dones belong to the plan that follows them; a stale one must never satisfy a later
    // plan (the receiver may have lost the partition meanwhile).
    this.#doneEarly.clear()
    return { send: [], persist: [], drop }
  }

  #retarget(
    plan: RebalancePlan,
    newReplicas: (partition: number) => readonly string[],
    justDropped: ReadonlySet<number>,
    drop: number[],
  ): void {
    const receiversOf = new Map<number, string[]>()
    for (const move of plan.moves) {
      const list = receiversOf.get(move.partition) ?? []
      list.push(move.to)
      receiversOf.set(move.partition, list)
    }
    const ownDrops = new Set(plan.drops.filter((d) => d.node === this.self).map((d) => d.partition))
    for (const [partition, outbound] of this.#outbound) {
      if (outbound.state !== 'handing-off' || ownDrops.has(partition)) continue
      if (justDropped.has(partition)) continue
      const replicas = newReplicas(partition)
      if (replicas.includes(this.self)) continue
      for (const receiver of [...outbound.awaiting]) {
        if (!replicas.includes(receiver)) outbound.awaiting.delete(receiver)
      }
      for (const receiver of receiversOf.get(partition) ?? []) outbound.awaiting.add(receiver)
      for (const receiver of this.#doneEarly.get(partition) ?? []) {
        outbound.awaiting.delete(receiver)
      }
      if (outbound.awaiting.size === 0 && replicas.length > 0) {
        outbound.state = 'dropped'
        drop.push(partition)
      }
    }
  }

  /**
   * Starts transfers up to the concurrency bound; replaces silent sources. `isOwner`: whether a
   * node is still in the ownership set (a member, or leaving); an old replica that is not is
   * not waited for any longer than a holder (below). Defaults to every node.
   */
  tick(
    nowMs: number,
    isReachable: (node: string) => boolean,
    isOwner: (node: string) => boolean = () => true,
  ): RebalanceStep {
    this.#isReachable = isReachable
    const send: Outgoing[] = []
    const persist: HandoffPersist[] = []
    let active = this.#activeCount()
    for (const transfer of this.#inboundInOrder()) {
      if (transfer.isComplete) continue // only waiting for its pages to be durable
      if (transfer.state === 'receiving' && nowMs >= transfer.deadlineMs) {
        const next = this.#switchSource(transfer, nowMs, isReachable)
        if (next !== undefined) send.push(next)
        else if (
          transfer.answered.size > 0 &&
          transfer.sources.every((node) => transfer.answered.has(node) || !isOwner(node))
        ) {
          // Nobody left to ask but unreachable holders or other owners, every old replica's pass
          // merged: wait for them `requestTimeoutMs`, then complete with the union (see
          // `onBatch`). An old replica that has not answered is waited for however long it
          // takes, as before the holders were asked: a write acknowledged by a quorum of the old
          // replicas may be on the unreachable ones only, and they drop their copies once this
          // node says done. Unless it is no owner any more: a graceful leave ends only once its
          // receivers are done or it drained its copies to the current replicas with plain puts
          // (this node among them), and a removed node does not come back with its copy, so
          // waiting for it never ended (whole-cluster simulator, swarm seed 2139: n5 drained
          // partition 1 to n2, n3 and n4 and left while n2 still waited for its pass).
          transfer.stalledSinceMs ??= nowMs
          if (nowMs - transfer.stalledSinceMs >= this.config.requestTimeoutMs) {
            transfer.unpersisted += 1 // the empty page that carries the handoff-done
            persist.push(this.#complete(transfer, []))
          }
        }
      } else if (transfer.state === 'pending' && active < this.config.maxConcurrentTransfers) {
        active += 1
        send.push(...this.#begin(transfer, nowMs))
      }
    }
    return { send, persist, drop: [] }
  }

  #activeCount(): number {
    let active = 0
    for (const transfer of this.#inbound.values()) {
      if (transfer.state === 'receiving' && !transfer.isComplete) active += 1
    }
    return active
  }

  #begin(transfer: Inbound, nowMs: number): Outgoing[] {
    transfer.state = 'receiving'
    const next = this.#switchSource(transfer, nowMs, this.#isReachable)
    return next === undefined ? [] : [next]
  }

  // Starts pending transfers up to the concurrency bound (a transfer just finished).
  #startPending(nowMs: number): Outgoing[] {
    const send: Outgoing[] = []
    let free = this.config.maxConcurrentTransfers - this.#activeCount()
    if (free <= 0) return send
    // Insertion order (plans insert in partition order); no sort on this per-page path.
    for (const transfer of this.#inbound.values()) {
      if (free <= 0) break
      if (transfer.state !== 'pending') continue
      free -= 1
      send.push(...this.#begin(transfer, nowMs))
    }
    return send
  }

  /** A page from a source: persist it, then ask for the next or announce completion. */
  onBatch(from: string, batch: HandoffBatchMessage, nowMs: number): RebalanceStep {
    const transfer = this.#inbound.get(batch.partition)
    if (
      transfer === undefined ||
      transfer.state !== 'receiving' ||
      transfer.isComplete ||
      transfer.source !== from ||
      transfer.transferId !== batch.transferId
    ) {
      return { send: [], persist: [], drop: [] }
    }
    const entries = batch.entries.map(({ key, record }: KeyedRecord) => ({ key, record }))
    transfer.unpersisted += 1
    const page = { partition: batch.partition, transfer: transfer.id }
    if (batch.partial === true) transfer.passPartial = true
    if (batch.cursor === undefined) {
      // A pass from a source whose own copy may be incomplete (still streaming the partition
      // in, dropped, leftovers: `handoffSourceIsPartial`) is merged, but is not one of the
      // `needed` full passes: two receivers streaming from each other counted such passes and
      // completed without a delete a quorum of the old replicas held (whole-cluster simulator,
      // swarm seed 18135).
      transfer.answered.add(from)
      if (!transfer.passPartial) transfer.passed.add(from)
      if (transfer.passed.size < transfer.needed) {
        // The next pass, from another source, once this page is durable.
        transfer.after = undefined
        const next = this.#switchSource(transfer, nowMs, this.#isReachable)
        // When every candidate has answered and fewer than `needed` of them hold a complete
        // copy, no complete pass is left to wait for (refusing partial sources outright
        // deadlocked when the only holder had drained its copy to the receivers and dropped
        // it): the partition is received as the union of every pass merged, which holds every
        // write any of the candidates held. When some candidate is unreachable, `tick` waits
        // `requestTimeoutMs` for it before settling for the union.
        if (next !== undefined || !transfer.candidates.every((n) => transfer.answered.has(n))) {
          if (next === undefined) transfer.stalledSinceMs ??= nowMs
          return {
            send: [],
            persist: [{ entries, thenSend: next === undefined ? [] : [next], page }],
            drop: [],
          }
        }
      }
      // The next transfers need not wait for this page to be durable: they are other partitions.
      return {
        send: this.#startPending(nowMs),
        persist: [this.#complete(transfer, entries)],
        drop: [],
      }
    }
    transfer.after = batch.cursor
    transfer.deadlineMs = nowMs + this.config.requestTimeoutMs
    const thenSend = [this.#request(transfer, from)]
    return { send: [], persist: [{ entries, thenSend, page }], drop: [] }
  }

  /**
   * A page of `onBatch` is durable (`ok`), or its write failed. The transfer is 'received'
   * once every pass is in and every page durable. A failed page starts the transfer over.
   */
  onPersisted(page: HandoffPersist['page'], ok = true): void {
    if (page === undefined) return
    const transfer = this.#inbound.get(page.partition)
    if (transfer === undefined || transfer.id !== page.transfer || transfer.state !== 'receiving') {
      return
    }
    transfer.unpersisted = Math.max(0, transfer.unpersisted - 1)
    if (!ok) {
      transfer.passed.clear()
      transfer.answered.clear()
      transfer.passPartial = false
      transfer.stalledSinceMs = undefined
      transfer.isComplete = false
      transfer.source = undefined
      transfer.after = undefined
      transfer.deadlineMs = 0
      return
    }
    if (transfer.isComplete && transfer.unpersisted === 0) transfer.state = 'received'
  }

  /** A receiver holds `partition` now; drop it here once every receiver has said so. */
  onHandoffDone(from: string, message: HandoffDoneMessage): RebalanceStep {
    const outbound = this.#outbound.get(message.partition)
    if (outbound === undefined) {
      this.#rememberEarlyDone(from, message.partition)
      return { send: [], persist: [], drop: [] }
    }
    if (outbound.state === 'dropped') return { send: [], persist: [], drop: [] }
    outbound.awaiting.delete(from)
    if (outbound.awaiting.size > 0) return { send: [], persist: [], drop: [] }
    outbound.state = 'dropped'
    return { send: [], persist: [], drop: [message.partition] }
  }

  #rememberEarlyDone(from: string, partition: number): void {
    if (!Number.isInteger(partition) || partition < 0) return
    let receivers = this.#doneEarly.get(partition)
    if (receivers === undefined) {
      if (this.#doneEarly.size >= EARLY_DONE_PARTITIONS_MAX) return
      receivers = new Set()
      this.#doneEarly.set(partition, receivers)
    }
    if (receivers.size < EARLY_DONE_RECEIVERS_MAX) receivers.add(from)
  }

  /**
   * The driver copied this node's records of `partition` to its current replicas itself (after
   * waiting too long for their handoff-done): the partition may be dropped now.
   */
  completeHandOff(partition: number): RebalanceStep {
    const outbound = this.#outbound.get(partition)
    if (outbound === undefined || outbound.state !== 'handing-off') {
      return { send: [], persist: [], drop: [] }
    }
    outbound.awaiting.clear()
    outbound.state = 'dropped'
    return { send: [], persist: [], drop: [partition] }
  }

  /**
   * The transport failed a request to `from`, or `from` refused it (`handoffSourceRefusal`): the
   * next tick switches source. Not an answer: `from` delivered no pass, is asked again in its
   * turn, and an old replica of the plan that refuses is waited for as one that is silent.
   */
  onFailure(from: string): void {
    for (const transfer of this.#inbound.values()) {
      if (transfer.state === 'receiving' && !transfer.isComplete && transfer.source === from) {
        transfer.deadlineMs = 0
      }
    }
  }

  /** True when no inbound transfer is left: a joining node may report itself ready. */
  get isReady(): boolean {
    for (const transfer of this.#inbound.values()) if (transfer.state !== 'received') return false
    return true
  }

  /**
   * While `partition` is still streaming in (pending or receiving): the old replicas it comes
   * from and how many of them make a read quorum of the old placement. A read this node
   * answers meanwhile must include the records of that many of them (its own copy may miss an
   * acknowledged write). The same while this node hands off a partition whose transfer in a
   * later plan cut short (its copy is just as incomplete). Undefined otherwise.
   */
  readQuorumOf(partition: number): { sources: readonly string[]; needed: number } | undefined {
    const transfer = this.#inbound.get(partition)
    if (transfer === undefined) {
      // Handing off a copy whose transfer in was cut short (`Outbound.incomplete`).
      const outbound = this.#outbound.get(partition)
      return outbound?.state === 'handing-off' ? outbound.incomplete : undefined
    }
    if (transfer.state === 'received') return undefined
    return { sources: transfer.sources, needed: transfer.needed }
  }

  /**
   * True while `partition` streams in to this node as a replica it was not under the placement
   * its plan came from (the plan's old replicas do not include it). A quorum read under that
   * placement need not meet this node, so its ack of a coordinator's put does not count towards
   * the acks a write needs from settled replicas (`replica.ts` `isNewReplicaStreamingIn`,
   * `coordinator.ts`). False for a staying replica that receives because its set shrinks, and
   * once every page is durable.
   */
  isNewReplicaOf(partition: number): boolean {
    const transfer = this.#inbound.get(partition)
    return transfer !== undefined && transfer.state !== 'received' && !transfer.wasReplica
  }

  /** Handoff state of a partition on this node (undefined when it is not moving here or away). */
  stateOf(partition: number): HandoffState | undefined {
    return this.#inbound.get(partition)?.state ?? this.#outbound.get(partition)?.state
  }

  // Every pass is in (or every candidate answered): the last page, then handoff-done to the old
  // replicas once it is durable. The partition counts as received (reads answered from the
  // local copy alone, `readQuorumOf`) only once every page is durable (`onPersisted`): until a
  // write commits the engine does not show it, and a receiver that answered from its copy
  // meanwhile missed an acknowledged write (whole-cluster simulator, swarm seed 5054: a
  // rejoined node on a slow disk answered 'no record' for a key whose streamed pages were still
  // committing, and with a replica that had missed the write made a read quorum).
  #complete(transfer: Inbound, entries: HandoffPersist['entries']): HandoffPersist {
    transfer.isComplete = true
    const done: HandoffDoneMessage = { type: 'handoff-done', partition: transfer.partition }
    const thenSend = transfer.notify.map((to) => ({ to, message: done }))
    return { entries, thenSend, page: { partition: transfer.partition, transfer: transfer.id } }
  }

  #inboundInOrder(): Inbound[] {
    return [...this.#inbound.values()].sort((a, b) => a.partition - b.partition)
  }

  #switchSource(
    transfer: Inbound,
    nowMs: number,
    isReachable: (node: string) => boolean,
  ): Outgoing | undefined {
    transfer.deadlineMs = nowMs + this.config.requestTimeoutMs
    const candidates = transfer.candidates
    // Bounded: at most one full turn over the candidates per call.
    for (let tried = 0; tried < candidates.length; tried++) {
      const source = candidates[transfer.sourceTurn % candidates.length]!
      transfer.sourceTurn += 1
      if (!isReachable(source) || transfer.answered.has(source)) continue
      // A pass counts only when one source delivered all of it: another source starts over.
      if (source !== transfer.source) transfer.after = undefined
      transfer.source = source
      transfer.transferId = this.#nextTransferId++
      transfer.stalledSinceMs = undefined
      return this.#request(transfer, source)
    }
    return undefined // no source reachable now: retried after requestTimeoutMs
  }

  #request(transfer: Inbound, to: string): Outgoing {
    if (transfer.after === undefined) transfer.passPartial = false // a new pass starts
    const replicas = this.#fenceOf?.(transfer.partition)
    const message: HandoffRequestMessage = {
      type: 'handoff-request',
      transferId: transfer.transferId,
      partition: transfer.partition,
      after: transfer.after,
      limit: this.config.batchLimit,
      ...(replicas === undefined ? {} : { replicas }),
    }
    return { to, message }
  }
}

/**
 * How many of the old replicas `oldReplicas` make a read quorum (⌊N/2⌋+1 of them), not counting
 * `self` when it is one of them (its own copy is the other part of the quorum), and never more
 * than the others.
 */
export function readQuorumSize(oldReplicas: readonly string[], self: string): number {
  const others = oldReplicas.filter((node) => node !== self).length
  const quorum = Math.floor(oldReplicas.length / 2) + 1
  return Math.min(others, quorum - (oldReplicas.includes(self) ? 1 : 0))
}

/** What a source needs from storage. */
export interface HandoffScanReader {
  scan(options: ScanOptions): ScanPage
}

/**
 * A source's answer to `handoff-request`: the next records of the partition after the cursor,
 * tombstones included (a receiver must learn deletes too). Examines at most `examineMax` keys
 * per answer (the Engine is ordered by key, not partition), so a page may be short and still
 * carry a cursor. Undefined for a malformed request (dropped).
 */
export function answerHandoffRequest(input: {
  readonly store: HandoffScanReader
  readonly request: HandoffRequestMessage
  readonly partitionOf: (key: string) => number
  readonly nowMs: number
  readonly examineMax?: number | undefined
  /**
   * The source's copy may be incomplete (`replica.ts` `handoffSourceIsPartial`): every page
   * says so, and the receiver does not count the pass as a full one.
   */
  readonly partial?: boolean | undefined
}): HandoffBatchMessage | undefined {
  const { request } = input
  const partial = input.partial === true
  if (!Number.isInteger(request.limit) || request.limit < 1 || request.limit > 10_000) {
    return undefined
  }
  const examineMax = input.examineMax ?? 10_000
  const entries: KeyedRecord[] = []
  let after = request.after
  let examined = 0
  for (;;) {
    const page = input.store.scan({
      after,
      limit: Math.min(1000, examineMax),
      includeDead: true,
      nowMs: input.nowMs,
    })
    for (const entry of page.entries) {
      examined += 1
      after = entry.key
      if (input.partitionOf(entry.key) === request.partition) entries.push(entry)
      if (entries.length >= request.limit || examined >= examineMax) {
        return batch(request, entries, after, partial)
      }
    }
    if (page.cursor === undefined) return batch(request, entries, undefined, partial)
    after = page.cursor
  }
}

function batch(
  request: HandoffRequestMessage,
  entries: KeyedRecord[],
  cursor: string | undefined,
  partial: boolean,
): HandoffBatchMessage {
  return {
    type: 'handoff-batch',
    transferId: request.transferId,
    partition: request.partition,
    entries,
    cursor,
    ...(partial ? { partial: true } : {}),
  }
}
