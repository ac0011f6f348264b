/**
 * The replica side of the coordinator's requests (architecture §6): what a node does with a
 * `put`, `get` or `hint-deliver` addressed to it. Pure functions over a read-only view of the
 * store; writes leave as `AfterPersist` outputs, so the acknowledgement is sent only once the
 * write is durable (a coordinator counts an ack as a durable copy).
 *
 * The reply status is decided here with the engine's own rule (`decideWrite`) against the record
 * read now; the driver's write applies the same rule again. A write racing in between can turn
 * `applied` into `stale` (superseded by something newer — durable either way) or, for a
 * conditional put, into `condition_failed`: the driver replies with `putReplyAfterWrite`.
 *
 * A `put` carrying `hintFor` goes to the hint holder (`hinted-handoff.ts`), never into the data
 * store: this node is a fallback, not an owner of the key's partition. Any other `put` is a
 * replica write, taken only for a partition this node holds (`partitionRefusal`, the rule gets
 * follow too) and, from a coordinator, only when the coordinator places the partition on the
 * same replicas (`placementFenceRefusal`, gets too): otherwise it is answered `refused` and the
 * coordinator counts no ack from it. A new replica still streaming the partition in takes the
 * put and says so in its reply (`isNewReplicaStreamingIn`, `PutReplyMessage.streamingIn`).
 * An old replica still handing a partition off holds its copy for the hand-off only (pages,
 * and the gets forwarded by receivers streaming it in), not for coordinators (`routeGet`).
 */
import type { StoredRecord, WriteOutcome } from '../storage/engine.ts'
import { decideWrite } from '../storage/record-rules.ts'
import type { HintedHandoff, HintWrite } from './hinted-handoff.ts'
import type {
  AfterPersist,
  GetMessage,
  HintDeliverMessage,
  Outgoing,
  PutMessage,
  PutReplyMessage,
} from './messages.ts'
import type { HandoffState } from './rebalance.ts'

/** Reads a replica needs. */
export interface ReplicaReader {
  getRecord(key: string): StoredRecord | undefined
}

/** What handling one request produced. */
export interface ReplicaStep {
  readonly send: readonly Outgoing[]
  /** Data writes, each followed by its reply once durable. */
  readonly persist: readonly AfterPersist[]
  /** Hint-store writes, followed by the reply once durable. */
  readonly hintPersist: ReadonlyArray<{
    readonly writes: readonly HintWrite[]
    readonly thenSend: readonly Outgoing[]
  }>
}

/**
 * What a node knows of one partition, to decide whether it holds it (`partitionRefusal`): the
 * same view for gets (`routeGet`) and replica puts (`handlePut`).
 */
export interface PartitionHolding {
  readonly self: string
  /** The partition's replicas in the applied placement; undefined when none is applied yet. */
  readonly replicas: readonly string[] | undefined
  /** `Rebalance.stateOf(partition)`. */
  readonly handoff: HandoffState | undefined
  /** `Rebalance.readQuorumOf(partition)`: defined while the partition streams in. */
  readonly readQuorum: { readonly sources: readonly string[]; readonly needed: number } | undefined
  /**
   * `Rebalance.isNewReplicaOf(partition)`: it streams in to a node that was not one of its plan's
   * old replicas (`isNewReplicaStreamingIn`). @default false
   */
  readonly newReplica?: boolean | undefined
}

/**
 * Why this node does not hold the partition for a coordinator, or undefined when it does. It
 * holds it when it is a replica of it in its applied placement (streaming it in included: a
 * joining node takes writes for the partitions it receives). It does not when no placement is
 * applied yet (it cannot know it was made a replica), when it is not a replica, or once it
 * dropped the partition after a hand-off — and not while it is still handing it off either.
 * An old replica keeps its copy until every receiver reports done (`rebalance.ts`), but that
 * copy serves the hand-off only (pages, and gets forwarded by a receiver that merges them with
 * its own copy: `routeGet`): coordinators under the new placement write to the new replicas,
 * so the old copy misses their writes, and a coordinator that still asks this node has not
 * heard of the change. Its answer, or its ack, would count towards a quorum of a placement that
 * is no longer in force (whole-cluster simulator, swarm seeds 4149 and 4183: a coordinator
 * that had not yet heard of a leave read from itself and from the leaving node, and missed a
 * put the new replicas had acknowledged; 4183 also counted the leaving node's ack for a
 * write=all). Refused, the coordinator counts a failed replica and needs a quorum of the
 * others. (A handing-off node is never a replica in its applied placement: a plan that makes
 * it one again moves the partition to it, which ends the hand-off.) Pure.
 */
export function partitionRefusal(view: PartitionHolding): string | undefined {
  if (view.replicas === undefined) return 'no placement applied yet'
  if (view.handoff === 'handing-off') return 'handing the partition off'
  if (view.readQuorum !== undefined) return undefined
  if (view.replicas.includes(view.self)) return undefined
  return 'not a replica of the partition'
}

/**
 * Why this node refuses a coordinator's put or get under the placement fence, or undefined
 * when it may take it: `coordinatorReplicas` (the message's `replicas`, the key's partition's
 * replicas in the coordinator's placement) must be the replicas its own applied placement gives
 * the partition, as a set. Absent (a read repair, a drain, a forwarded get), nothing is checked.
 *
 * Ownership changes reach nodes at different times (deltas spent during a partition, and the
 * next push/pull up to 30 s away), and a node that has not heard of one yet is a replica in
 * its own view, so `partitionRefusal` alone let a write quorum under one placement and a read
 * quorum under another miss each other (whole-cluster simulator, swarm seed 8093: n4's leave
 * moved partition 0 from {n6, n7, n1} to {n1, n6, n3}; n2 and n7 had not heard of it 4.5 s
 * later; a quorum put coordinated by n2 was acknowledged by n7 (a replica in its own old view)
 * and n1 (a replica in both), and a quorum read coordinated by n3 under the new placement was
 * answered by n3 and n6, which had missed it, and returned the older value). With the fence,
 * an ack or an answer counts only from a node that agrees with the coordinator on the replica
 * set, so the two quorums of one request pair are taken under one replica set and intersect;
 * n1 refuses n2's put, which fails (an honest unknown outcome) instead of being acknowledged
 * by a quorum the new placement's reads do not meet. A coordinator behind the others gets
 * refusals, not a quorum, until it learns the change. (Writes a node took under its old view
 * before it learned the change reach the new replicas through the hand-off, whose sources
 * serve pages only once they agree with the receiver on the partition's replicas:
 * `handoffSourceRefusal`.) Pure.
 */
export function placementFenceRefusal(
  view: PartitionHolding,
  coordinatorReplicas: readonly string[] | undefined,
): string | undefined {
  return fenceAgrees(view, coordinatorReplicas)
    ? undefined
    : 'the coordinator places the partition on other replicas'
}

/**
 * The placement fence's one comparison, for coordinators' requests (`placementFenceRefusal`) and
 * hand-off requests (`handoffSourceRefusal`): true when `replicas` is absent, when no placement
 * is applied here, or when it names the same replicas as this node's applied placement gives
 * the partition, as a set.
 */
function fenceAgrees(view: PartitionHolding, replicas: readonly string[] | undefined): boolean {
  if (replicas === undefined || view.replicas === undefined) return true
  const own = view.replicas
  return own.length === replicas.length && replicas.every((node) => own.includes(node))
}

/**
 * Whether this node takes a coordinator's put as a new replica of the partition still streaming
 * it in (`PutReplyMessage.streamingIn`): a transfer of the partition to it is under way
 * (`readQuorum`, with old replicas still to hear from) and its plan's old replicas did not
 * include it (`newReplica`, `Rebalance.isNewReplicaOf`). A quorum read under the placement
 * before the change need not meet such a node, so a coordinator counts its ack towards W but
 * needs min(W, N − quorum + 1) acks from settled replicas as well (`coordinator.ts`, "Acks from
 * new replicas still streaming in"). A staying replica that receives because the replica set
 * shrinks was a replica before too: its copy may miss older writes, which its transfer brings,
 * but this write is on an old replica. Found by the whole-cluster simulator, swarm seed 8235:
 * after a power loss n2 and n4 rejoined and placed partition 8 on {n2, n4, n3}, both still
 * streaming it in as new replicas; a quorum put through n4 was acknowledged by the two of them,
 * while n1 and n3, which had not heard of the change, still placed it on {n5, n3, n1} and
 * answered a quorum read with an older value. (A handing-off node refuses puts:
 * `partitionRefusal`.) Pure.
 */
export function isNewReplicaStreamingIn(view: PartitionHolding): boolean {
  return view.newReplica === true && view.readQuorum !== undefined && view.readQuorum.needed > 0
}

/**
 * Why this node must not serve a `handoff-request` for a partition (answer its pages as a
 * source), or undefined when it may. `receiverReplicas` is the request's hand-off fence
 * (`HandoffRequestMessage.replicas`): the partition's replicas in the receiver's applied
 * placement.
 *
 * - A node that has not applied any placement yet (booted, not joined) cannot know what it
 *   holds: after a leave, or a removal, it dropped its partitions (or kept a stale leftover of
 *   one), and it answered a receiver's requests with what its store happened to hold. Its last
 *   page, empty or stale, counted as a full pass from an old replica, so a receiver could report
 *   the hand-off done without a copy of a write a quorum of the old replicas held
 *   (whole-cluster simulator, swarm seed 8093: three leavers rejoined as the new replicas of a
 *   partition; one streamed it from two of the others, both still unjoined with the partition
 *   dropped, and an acknowledged w=all put was lost). It answers once it has joined.
 * - A node whose applied placement gives the partition other replicas than the receiver's (the
 *   same comparison as `placementFenceRefusal`) has not heard of the change the receiver streams
 *   for (or the receiver has not heard of a later one). A stale old replica used to serve its
 *   pages, the pass counted, and it then went on acknowledging puts of coordinators on its old
 *   view together with another stale old replica: writes the finished receiver never saw, so
 *   quorum reads under the old and the new placement missed each other (docs/simulation.md,
 *   "Quorums under different placement views"). Once its placement agrees, an old replica hands
 *   the partition off and refuses the old view's puts and gets (`partitionRefusal`,
 *   `placementFenceRefusal`): every pass a receiver counts comes from a source that no longer
 *   takes writes under the placement before the change, so a read quorum of complete passes
 *   leaves no write quorum of the old replicas on the old view. The receiver's driver pushes
 *   and pulls ownership state with the refusing node, so whichever of the two is behind learns
 *   the other's view, and asks again later.
 *
 * Refused, the receiver counts no pass from this node (`Rebalance.onFailure`: a refusal is not
 * an answer) and switches to its next source. Pure.
 */
export function handoffSourceRefusal(
  view: PartitionHolding,
  receiverReplicas?: readonly string[] | undefined,
): string | undefined {
  if (view.replicas === undefined) return 'no placement applied yet'
  if (!fenceAgrees(view, receiverReplicas)) {
    return 'the receiver places the partition on other replicas'
  }
  return undefined
}

/**
 * Whether the copy of a partition this node would serve as a hand-off source may be incomplete
 * (`HandoffBatchMessage.partial`), for a node that serves pages (`handoffSourceRefusal`). Its
 * copy is complete when it is a replica of the partition in its applied placement with no
 * transfer of it still under way, or an old replica handing it off from such a copy. It is
 * partial while it still streams the partition in itself (`readQuorum` defined: pending or
 * receiving), when it hands off a copy whose transfer in was cut short (`readQuorum` defined
 * on a handing-off node), once it dropped the partition, and when it is neither a replica nor
 * an old replica (leftovers). The receiver still merges partial pages (they are data), but does
 * not count their pass as one of the read quorum of old replicas it needs (`Rebalance.onBatch`).
 * Found by the whole-cluster simulator, swarm seed 18135: two rejoined nodes streamed a partition
 * from each other while both were still receiving it, counted those passes as full ones, and
 * completed holding a value deleted since. Pure.
 */
export function handoffSourceIsPartial(view: PartitionHolding): boolean {
  if (view.readQuorum !== undefined) return true
  if (view.handoff === 'handing-off') return false
  if (view.handoff === 'dropped') return true
  return view.replicas === undefined || !view.replicas.includes(view.self)
}

/**
 * A `put` from a coordinator (or a read repair, or an old replica draining a partition).
 *
 * A hinted put (`hintFor`) is stored as a hint whatever `partition` says: a fallback holds hints
 * for partitions it does not own. A replica put for a partition this node does not hold
 * (`partitionRefusal`) is answered `refused` with nothing written, which the coordinator counts
 * as a failed replica (its copy goes to a fallback as a hint; with fewer than W acks the write
 * fails with an unknown outcome). Found by the whole-cluster simulator, swarm seed 2050: a node
 * still under the placement before a leave acknowledged a put from a coordinator under the new
 * one, for a partition it was not a replica of; the coordinator crashed, and a read this node
 * then coordinated under its old placement formed a quorum of replicas that had missed the
 * acknowledged write.
 */
export function handlePut(input: {
  readonly store: ReplicaReader
  readonly hints: HintedHandoff
  readonly from: string
  readonly message: PutMessage
  /** This node's view of the key's partition. */
  readonly partition: PartitionHolding
}): ReplicaStep {
  const { message, from } = input
  if (message.hintFor !== undefined) {
    const outcome = input.hints.accept({
      intendedReplica: message.hintFor,
      key: message.key,
      record: message.record,
    })
    const reply = putReply(message.requestId, outcome.accepted ? 'applied' : 'refused')
    return {
      send: [],
      persist: [],
      hintPersist: [{ writes: outcome.writes, thenSend: [{ to: from, message: reply }] }],
    }
  }
  if (
    partitionRefusal(input.partition) !== undefined ||
    placementFenceRefusal(input.partition, message.replicas) !== undefined
  ) {
    return {
      send: [{ to: from, message: putReply(message.requestId, 'refused') }],
      persist: [],
      hintPersist: [],
    }
  }
  const entry = { key: message.key, record: message.record, condition: message.condition }
  const outcome = decideWrite(input.store.getRecord(message.key), entry)
  // Read by a coordinator only (read repairs and drains ignore it).
  const streamingIn = isNewReplicaStreamingIn(input.partition) ? { streamingIn: true } : {}
  if (outcome.status !== 'applied') {
    const current = outcome.current?.version
    const reply: PutReplyMessage = {
      ...putReply(message.requestId, outcome.status),
      current,
      ...streamingIn,
    }
    return { send: [{ to: from, message: reply }], persist: [], hintPersist: [] }
  }
  const reply: PutReplyMessage = { ...putReply(message.requestId, 'applied'), ...streamingIn }
  return {
    send: [],
    persist: [{ entries: [entry], thenSend: [{ to: from, message: reply }] }],
    hintPersist: [],
  }
}

/** A `get`: the raw record, tombstones and expired records included (the coordinator decides). */
export function handleGet(input: {
  readonly store: ReplicaReader
  readonly from: string
  readonly message: GetMessage
}): Outgoing {
  return {
    to: input.from,
    message: {
      type: 'get-reply',
      requestId: input.message.requestId,
      record: input.store.getRecord(input.message.key),
    },
  }
}

/**
 * How a replica answers a `get` for a key of `partition`, from what it knows of that partition
 * (the same rule in the runtime's driver and the simulator's node):
 *
 * - `local`: it holds the partition — a replica of it in its applied placement: the raw local
 *   record. Also an old replica still handing it off, for a get forwarded by a receiver that
 *   is streaming it in (old replicas keep their copies until every receiver reports done,
 *   `rebalance.ts`; the receiver merges the answer with its own copy, which takes the writes
 *   coordinated under the new placement).
 * - `merge`: it is still streaming the partition in (`readQuorumOf`), so its own copy may miss
 *   a write acknowledged under the old placement (by a write quorum that need not include the
 *   one old replica a single forward would ask, nor the coordinator's other choice): the newest
 *   of its own record and the records of `needed` of the old replicas `sources`, or a failure
 *   when that many do not answer — never an answer that may be stale. A forwarded get (already
 *   one hop) never merges again: it is refused.
 * - `refuse`: its applied placement gives the partition other replicas than the coordinator's
 *   (`placementFenceRefusal`; not checked on a forwarded get), or it does not hold the
 *   partition — no placement applied yet (it has not joined, so
 *   it cannot know it was made a replica), not a replica of it, or dropped after a hand-off: the
 *   coordinator counts a failure instead of an empty answer that would hide the key's copies
 *   (the simulator, seed 61: a node that had not yet applied the placement that made it a
 *   replica answered 'no record', and with a replica that missed the write formed a quorum).
 *   Likewise a get from a coordinator (not forwarded) to an old replica still handing the
 *   partition off: its copy misses the writes coordinated under the new placement
 *   (`partitionRefusal`; swarm seeds 4149, 4183).
 */
export type GetRoute =
  | { readonly kind: 'local' }
  | { readonly kind: 'refuse'; readonly reason: string }
  | { readonly kind: 'merge'; readonly sources: readonly string[]; readonly needed: number }

/** Decides a {@link GetRoute}. Pure. */
export function routeGet(
  input: PartitionHolding & {
    /** The get was forwarded by a replica still streaming in (one hop only). */
    readonly forwarded: boolean
    /** The get's `replicas`: the coordinator's placement fence (`placementFenceRefusal`). */
    readonly coordinatorReplicas?: readonly string[] | undefined
  },
): GetRoute {
  // A receiver streaming the partition in asks the old replicas (`readQuorumOf`) and merges
  // their records with its own copy: a complete old copy answers it as it is.
  if (input.forwarded && input.handoff === 'handing-off' && input.readQuorum === undefined) {
    return { kind: 'local' }
  }
  const refusal =
    partitionRefusal(input) ??
    (input.forwarded ? undefined : placementFenceRefusal(input, input.coordinatorReplicas))
  if (refusal !== undefined) return { kind: 'refuse', reason: refusal }
  if (input.readQuorum !== undefined) {
    if (input.forwarded) return { kind: 'refuse', reason: 'still streaming the partition in' }
    if (input.readQuorum.needed <= 0) return { kind: 'local' }
    return { kind: 'merge', ...input.readQuorum }
  }
  return { kind: 'local' }
}

/** A delivered hint: written like any replica write, acked once durable (or already stale). */
export function handleHintDeliver(input: {
  readonly store: ReplicaReader
  readonly from: string
  readonly message: HintDeliverMessage
}): AfterPersist {
  const { message } = input
  const entry = { key: message.key, record: message.record }
  const outcome = decideWrite(input.store.getRecord(message.key), entry)
  const ack: Outgoing = {
    to: input.from,
    message: { type: 'hint-ack', deliveryId: message.deliveryId },
  }
  return { entries: outcome.status === 'applied' ? [entry] : [], thenSend: [ack] }
}

/**
 * The reply to a `put` once its write is durable. The engine decides the write again inside
 * its transaction, against what is stored by then (`decideWrite`); when a write that raced in
 * between — even one with an OLDER version — makes a condition fail there, the write was not
 * stored although `handlePut` planned `applied`, and the reply must say `condition_failed`, or
 * the coordinator counts an ack for a write that is nowhere (found by the whole-cluster
 * simulator, seed 37: an acknowledged If-None-Match put lost). A `stale` outcome stays an ack,
 * but is reported as `stale` with the version that beat it: the coordinator's driver must see
 * that version, because a newer version from a clock too far ahead is no durable copy of
 * anything and does not count (clock-skew test: a put planned `applied` while the skewed
 * node's own write was still committing was acked although the replica kept the future
 * record, and a quorum read then missed the acknowledged write).
 */
export function putReplyAfterWrite<M extends Outgoing['message'] | undefined>(
  planned: M,
  outcome: WriteOutcome | undefined,
): M | PutReplyMessage {
  if (planned?.type !== 'put-reply' || planned.status !== 'applied') return planned
  if (outcome === undefined || outcome.status === 'applied') return planned
  return { ...planned, status: outcome.status, current: outcome.current?.version }
}

function putReply(requestId: number, status: PutReplyMessage['status']): PutReplyMessage {
  return { type: 'put-reply', requestId, status }
}
