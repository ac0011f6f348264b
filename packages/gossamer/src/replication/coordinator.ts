/**
 * The request coordinator (architecture §6; Dynamo, DeCandia et al. 2007, §4.5–4.6): any node
 * coordinates any request by sending it to the partition's N replicas and answering after W
 * acks (writes) or R replies (reads). One `WriteCoordinator` or `ReadCoordinator` is one
 * request, as a deterministic state machine: inputs are replies, failures reported by the
 * transport and the passage of time (`nowMs`); outputs are messages to send and, exactly once,
 * the completion. Nothing here reads a clock, awaits or touches a socket.
 *
 * Writes. The record's version comes from the coordinator's hybrid logical clock, so a later
 * write through any node orders after it (§4). Each of the N replica slots is sent to its
 * replica when that one is reachable; otherwise (or when the replica fails during the request)
 * to the next unused reachable fallback, with a hint naming the intended replica — the sloppy
 * quorum with hinted handoff of Dynamo §4.6. Whether a fallback's ack counts towards W is
 * `countHintedAcks`: off by default, because only acks from true replicas make the §4 promise
 * (an acknowledged quorum write is seen by every later quorum read) hold before the hints are
 * delivered; on, it trades that promise for write availability, as Dynamo does. A `stale` ack
 * (the replica already holds this or a newer version) counts: the write is durable there or
 * superseded by a newer one.
 *
 * Placement fence. Every replica put and get carries the replicas this coordinator computed for
 * the key's partition (`replicas`), and a replica whose applied placement gives the partition
 * other replicas refuses it (`replica.ts` `placementFenceRefusal`): an ack or an answer counts
 * only from a node that agrees with the coordinator on the replica set, so a quorum is always
 * one of a single replica set, and a write quorum under a stale view no longer combines with a
 * read quorum under the new one to miss the write (whole-cluster simulator, swarm seed 8093,
 * docs/simulation.md finding 18).
 *
 * Acks from new replicas still streaming in. The fence compares replica sets, not the
 * placements they came from: after several changes, or with a node that has not heard of one,
 * two sets can share a node that refuses the other side, and each side can take a quorum of its
 * own set (swarm seed 8235: n2 and n4, which rejoined after a power loss, placed partition 8 on
 * {n2, n4, n3}, n1 and n3 still on {n5, n3, n1}; a quorum put through n4 was acknowledged by n4
 * and n2, both still streaming the partition in, and a quorum read through n3 was answered by
 * n3 and n1 with an older value: docs/simulation.md finding 22). A replica that takes a put
 * while it streams the key's partition in as a replica it was not before the change says so
 * (`PutReplyMessage.streamingIn`, `replica.ts` `isNewReplicaStreamingIn`): a quorum read under
 * the placement before the change need not meet it. Its ack counts towards W, but a write also
 * needs min(W, N − quorum + 1) acks from settled replicas (any other replica's ack): the fewest
 * copies that meet every read quorum of N replicas (2 of 3, 2 of 4, 3 of 5, 1 of 2). Under one
 * view a settled replica of the new set was a replica before the change too (`planRebalance`
 * moves the partition to every new replica that was not), so those acks meet every quorum read
 * taken under the placement before the change, and all W acks meet every quorum read under the
 * new one: a joint quorum of the old and the new replica sets for as long as the change is
 * being streamed, learnt from the replicas themselves (a coordinator that is neither an old nor
 * a new replica knows of no transfer, and the coordinator's own plan may be a guess: n4's said
 * n2 had been a replica, n2's own plan said not). A write that misses it fails with an unknown
 * outcome and is tried again as after a refusal (`refusalRetryDelayMs`). The price is
 * availability while a majority of a partition's new replicas stream it in (a rejoin after a
 * power loss, several changes at once).
 *
 * Reads. Sent to the reachable replicas only: fallbacks keep hints apart from their data, so
 * they have nothing to answer with. The newest reply by version wins; a tombstone or an expired
 * record reads as not found. After completion the coordinator keeps listening until every
 * replica answered or `repairDeadlineMs` passed, and every reply, early or late, feeds read
 * repair (`read-repair.ts`).
 *
 * Completion: success as soon as W acks / R replies count; failure as soon as they no longer
 * can (`GOSSAMER_ERR_QUORUM_NOT_REACHED`), or `GOSSAMER_ERR_TIMEOUT` at the deadline. Such a
 * failed write may still have been applied by some replicas ("outcome unknown"):
 * last-writer-wins and repair decide its fate.
 *
 * Conditional writes (If-Match / If-None-Match, checked by each replica). The API promises that
 * a 412 (`GOSSAMER_ERR_PRECONDITION_FAILED`) means nothing was written, so the coordinator
 * answers it only when that is certain: at least one replica rejected the condition, every
 * put this request sent was answered with a definite "not applied" (`condition_failed`, or a
 * fallback's `refused`), none is still awaited, and no hint for it was or will be stored. A
 * put that failed in the transport or timed out may have been applied, so it makes the outcome
 * unknown; an ack (applied or stale) below W does too. Hence, once W is out of reach:
 * - some put may have been applied → `GOSSAMER_ERR_QUORUM_NOT_REACHED` (outcome unknown) at once;
 * - nothing may have been applied yet but puts are still awaited → wait for them (bounded by
 *   the deadline: unanswered puts then make it `GOSSAMER_ERR_TIMEOUT`, outcome unknown);
 * - everything answered, nothing applied, some rejected → 412 (none rejected: nothing was
 *   reachable, `GOSSAMER_ERR_QUORUM_NOT_REACHED`).
 * Before this rule a 412 went out as soon as W was out of reach, while a replica whose
 * condition held could still apply the put, which LWW then spread (whole-cluster simulator,
 * seed cond-3: a "definitely failed" put became visible). The puts of earlier attempts count
 * too: a write coordinated again after an unknown outcome (`refusalRetryDelayMs`,
 * `WriteRequest.earlierAttemptMayHaveApplied`) never answers 412, since the first attempt may
 * have been applied on a replica the retry does not reach, or stored as a hint that is
 * delivered later (whole-cluster simulator, swarm seed 5096: the retry of an If-None-Match put
 * was rejected or refused by every replica, while the first attempt, an unknown outcome, had
 * left its copy for the refusing replica on a fallback as a hint, which was delivered and won
 * by last-writer-wins).
 *
 * Fallbacks cannot check a condition (they hold hints, not the key's data), so for a
 * conditional write the hinted copies are deferred: a slot whose replica is unreachable (or
 * fails) waits, and only once the request completed with success or an unknown outcome is its
 * copy sent to a fallback, as a plain hint delivered later without the condition — which is
 * sound, since the write then happened or may have happened and LWW orders it. When nothing
 * was applied anywhere (a 412, or no replica reached) no hint is stored at all. For the same reason a fallback's ack never counts towards W for a conditional
 * write, whatever `countHintedAcks` says.
 */
import { compareVersions, type Version } from '../hlc/version.ts'
import type { StoredRecord, WriteCondition } from '../storage/engine.ts'
import { isLive } from '../storage/record-rules.ts'
import {
  type Consistency,
  type ReplicaReport,
  type ReplicationErrorCode,
  type ReplicationFailure,
  requiredCount,
} from './consistency.ts'
import type { GetReplyMessage, Outgoing, PutReplyMessage } from './messages.ts'
import { newestRecord, planReadRepair, type ReadReply } from './read-repair.ts'

/** What one input produced: messages to send now and, once per request, the completion. */
export interface CoordinatorStep<R> {
  readonly send: readonly Outgoing[]
  /** Present only in the step that completes the request. */
  readonly completed?: R | undefined
}

/** Completion of a write. */
export type WriteResult =
  | {
      readonly ok: true
      readonly version: Version
      readonly acks: number
      readonly replicas: readonly ReplicaReport[]
    }
  | { readonly ok: false; readonly version: Version; readonly error: ReplicationFailure }

/** Completion of a read. */
export type ReadResult =
  | {
      readonly ok: true
      /** The newest record if it is live at completion time; undefined = not found. */
      readonly record: StoredRecord | undefined
      /** The newest record among the counted replies, tombstones and expired included. */
      readonly newest: StoredRecord | undefined
      readonly replies: number
    }
  | { readonly ok: false; readonly error: ReplicationFailure }

/** Where a request may go: the partition's replicas and, for writes, its fallbacks. */
export interface Targets {
  /** The first N owners of the key's partition, in preference order. */
  readonly replicas: readonly string[]
  /** Owners after the first N, in preference order (reachability is checked here). */
  readonly fallbacks?: readonly string[] | undefined
  /** Whether a node can be sent to now (alive in membership, connection not known broken). */
  readonly isReachable: (node: string) => boolean
}

/** A write request. */
export interface WriteRequest extends Targets {
  /** Chosen by the driver; carried by every message of this request. */
  readonly requestId: number
  readonly key: string
  /** The value, or null for a delete (a tombstone). */
  readonly value: Uint8Array | null
  readonly expiresAtMs?: number | undefined
  readonly contentType?: string | undefined
  readonly condition?: WriteCondition | undefined
  readonly w: Consistency
  /** The coordinator's hybrid logical clock (only `now()` is used). */
  readonly hlc: { now(): Version }
  /**
   * The version of an earlier attempt of this write (`refusalRetryDelayMs`): a retry sends the
   * same record, so replicas that took the first attempt answer `stale`, an ack. @default hlc.now()
   */
  readonly version?: Version | undefined
  /**
   * An earlier attempt of this write failed with an unknown outcome (every retry follows one:
   * `refusalRetryDelayMs`), so it may have been applied somewhere: on a replica this attempt does
   * not reach, or as a hint a fallback stores and delivers later without the condition. A 412
   * is then never certain, and this attempt answers an unknown outcome in its place (see the
   * file header). @default false
   */
  readonly earlierAttemptMayHaveApplied?: boolean | undefined
  readonly nowMs: number
  /** The request fails with GOSSAMER_ERR_TIMEOUT when W acks have not arrived by then. */
  readonly deadlineMs: number
  /** Count fallbacks' (hinted) acks towards W: Dynamo's sloppy quorum. @default false */
  readonly countHintedAcks?: boolean | undefined
}

type SlotStatus = ReplicaReport['status']

interface Slot {
  readonly intended: string
  node: string
  hinted: boolean
  status: SlotStatus
  /**
   * A put of this slot may have been applied (or stored as a hint): it was acked, or its call
   * failed or timed out without a definite answer. Rules out a 412 (see the file header).
   */
  maybeApplied: boolean
  /** Conditional write: the copy waits for the completion before it goes to a fallback. */
  deferred: boolean
  /** Acked by a new replica still streaming the partition in (`PutReplyMessage.streamingIn`). */
  streamingIn: boolean
}

/** A quorum write for one key. See the file header. */
export class WriteCoordinator {
  readonly requestId: number
  readonly key: string
  readonly record: StoredRecord
  readonly required: number
  /** Acks that must come from settled replicas: min(W, N − quorum + 1). See the file header. */
  readonly #settledRequired: number
  readonly #request: WriteRequest
  readonly #slots: Slot[]
  readonly #usedFallbacks = new Set<string>()
  #refusals = 0
  #result: WriteResult | undefined

  constructor(request: WriteRequest) {
    this.#request = request
    this.requestId = request.requestId
    this.key = request.key
    this.record = makeRecord(request, request.version ?? request.hlc.now())
    this.required = requiredCount(request.w, request.replicas.length)
    const n = request.replicas.length
    this.#settledRequired = Math.min(this.required, n - requiredCount('quorum', n) + 1)
    this.#slots = request.replicas.map((node) => ({
      intended: node,
      node,
      hinted: false,
      status: 'pending' as SlotStatus,
      maybeApplied: false,
      deferred: false,
      streamingIn: false,
    }))
  }

  /** Sends to every replica (or its fallback); may complete at once if W is unreachable. */
  start(): CoordinatorStep<WriteResult> {
    const send: Outgoing[] = []
    for (const slot of this.#slots) {
      if (!this.#request.isReachable(slot.node)) this.#replace(slot)
      if (slot.status === 'pending') send.push(this.#putFor(slot))
    }
    return this.#step(send, this.#request.nowMs)
  }

  /** A replica's (or fallback's) answer. Replies from nodes not asked are ignored. */
  onReply(from: string, reply: PutReplyMessage, nowMs: number): CoordinatorStep<WriteResult> {
    const slot = this.#pendingSlot(from)
    if (slot === undefined || reply.requestId !== this.requestId) return { send: [] }
    if (reply.status === 'applied' || reply.status === 'stale') {
      slot.status = slot.hinted ? 'hinted' : 'acked'
      slot.maybeApplied = true
      // A fallback holds a hint, not the partition: the flag is a replica's.
      slot.streamingIn = !slot.hinted && reply.streamingIn === true
      return this.#step([], nowMs)
    }
    if (reply.status === 'condition_failed') {
      slot.status = 'rejected'
      return this.#step([], nowMs)
    }
    // Refused: a fallback's hint queue is full, or a replica does not hold the key's partition
    // in its applied placement or places it on other replicas (`handlePut`). A definite
    // answer: nothing was stored there.
    if (!slot.hinted) this.#refusals += 1
    return this.#retry(slot, nowMs)
  }

  /**
   * The transport could not deliver to `from` or its call timed out: the put may or may not
   * have been applied there. The slot moves to the next reachable fallback (also after
   * completion, so the record still reaches N nodes; deferred until then for a conditional
   * write).
   */
  onFailure(from: string, nowMs: number): CoordinatorStep<WriteResult> {
    const slot = this.#pendingSlot(from)
    if (slot === undefined) return { send: [] }
    slot.maybeApplied = true
    return this.#retry(slot, nowMs)
  }

  /** Time passes: at the deadline, pending slots stop counting and the request may time out. */
  tick(nowMs: number): CoordinatorStep<WriteResult> {
    if (nowMs < this.#request.deadlineMs) return { send: [] }
    for (const slot of this.#slots) {
      if (slot.status !== 'pending') continue
      slot.status = 'failed' // unanswered: it may still be applied
      slot.maybeApplied = true
    }
    return this.#step([], nowMs, true)
  }

  /** The completion, once there is one. */
  get result(): WriteResult | undefined {
    return this.#result
  }

  /** True when no slot awaits an answer any more: the driver may forget this request. */
  get isSettled(): boolean {
    return this.#result !== undefined && this.#slots.every((slot) => slot.status !== 'pending')
  }

  /** Per-slot state (for diagnostics and tests). */
  reports(): ReplicaReport[] {
    return this.#slots.map(report)
  }

  #pendingSlot(node: string): Slot | undefined {
    return this.#slots.find((slot) => slot.node === node && slot.status === 'pending')
  }

  get #isConditional(): boolean {
    return this.#request.condition !== undefined
  }

  // The slot's put failed or was refused: the next fallback takes it (before the deadline).
  #retry(slot: Slot, nowMs: number): CoordinatorStep<WriteResult> {
    const send: Outgoing[] = []
    if (nowMs < this.#request.deadlineMs) this.#replace(slot)
    else slot.status = 'failed'
    if (slot.status === 'pending') send.push(this.#putFor(slot))
    return this.#step(send, nowMs)
  }

  // A slot's node is unreachable or failed: a fallback takes the copy now, or — for a
  // conditional write not completed yet — once the request completed (see the file header).
  #replace(slot: Slot): void {
    if (this.#isConditional && this.#result === undefined) {
      slot.deferred = true
      slot.status = slot.node === slot.intended && !slot.hinted ? 'unreachable' : 'failed'
      return
    }
    this.#moveToFallback(slot)
  }

  // Evaluates after an input; on a completion that is not a 412, the deferred hinted copies
  // of a conditional write go to their fallbacks.
  #step(send: Outgoing[], nowMs: number, atDeadline = false): CoordinatorStep<WriteResult> {
    const completed = this.#evaluate(nowMs, atDeadline)
    if (completed === undefined) return { send }
    // A hint only for a write that happened or may have happened: with nothing applied
    // anywhere (a 412, or no replica reached) the write certainly failed, and a hint, which
    // is delivered without the condition, would apply it after all.
    const mayHaveHappened = completed.ok || this.#slots.some((slot) => slot.maybeApplied)
    for (const slot of this.#slots) {
      if (!slot.deferred) continue
      slot.deferred = false
      if (!mayHaveHappened) continue
      this.#moveToFallback(slot)
      if (slot.status === 'pending') send.push(this.#putFor(slot))
    }
    return { send, completed }
  }

  #moveToFallback(slot: Slot): void {
    const fallback = (this.#request.fallbacks ?? []).find(
      (node) =>
        !this.#usedFallbacks.has(node) &&
        !this.#request.replicas.includes(node) &&
        this.#request.isReachable(node),
    )
    if (fallback === undefined) {
      slot.status = slot.node === slot.intended && !slot.hinted ? 'unreachable' : 'failed'
      return
    }
    this.#usedFallbacks.add(fallback)
    slot.node = fallback
    slot.hinted = true
    slot.status = 'pending'
  }

  #putFor(slot: Slot): Outgoing {
    return {
      to: slot.node,
      message: {
        type: 'put',
        requestId: this.requestId,
        key: this.key,
        record: this.record,
        hintFor: slot.hinted ? slot.intended : undefined,
        condition: this.#request.condition,
        // The placement fence (a fallback holds a hint, whatever its placement says).
        replicas: slot.hinted ? undefined : this.#request.replicas,
      },
    }
  }

  #counts(slot: Slot): boolean {
    return slot.status === 'acked' || (slot.status === 'hinted' && this.#countHinted())
  }

  // An ack from a settled replica (not a new one still streaming the partition in).
  #countsSettled(slot: Slot): boolean {
    return this.#counts(slot) && !slot.streamingIn
  }

  #mayStillCount(slot: Slot): boolean {
    return slot.status === 'pending' && (!slot.hinted || this.#countHinted())
  }

  // A fallback cannot check a write condition, so its ack never counts for a conditional write.
  #countHinted(): boolean {
    return this.#request.countHintedAcks === true && !this.#isConditional
  }

  #evaluate(nowMs: number, atDeadline = false): WriteResult | undefined {
    if (this.#result !== undefined) return undefined
    const isDeadline = atDeadline || nowMs >= this.#request.deadlineMs
    const acks = this.#slots.filter((slot) => this.#counts(slot)).length
    const settled = this.#slots.filter((slot) => this.#countsSettled(slot)).length
    if (acks >= this.required && settled >= this.#settledRequired) {
      this.#result = { ok: true, version: this.record.version, acks, replicas: this.reports() }
      return this.#result
    }
    const mayStill = this.#slots.filter((slot) => this.#mayStillCount(slot)).length
    if (
      acks + mayStill >= this.required &&
      settled + mayStill >= this.#settledRequired &&
      !isDeadline
    )
      return undefined
    // W is out of reach (or the deadline passed). A 412 says nothing was written: only when
    // every put sent was answered "not applied" and a replica rejected the condition, by this
    // attempt and by every earlier one.
    const maybeApplied =
      this.#request.earlierAttemptMayHaveApplied === true ||
      this.#slots.some((slot) => slot.maybeApplied)
    const rejected = this.#slots.some((slot) => slot.status === 'rejected')
    const awaited = this.#slots.some((slot) => slot.status === 'pending')
    // Nothing may have been applied yet, but puts are awaited: wait for them when they can
    // still decide between a 412 and an unknown outcome (conditional writes).
    if (!isDeadline && !maybeApplied && awaited && (rejected || this.#isConditional)) {
      return undefined
    }
    const code: ReplicationErrorCode =
      rejected && !maybeApplied && !awaited
        ? 'GOSSAMER_ERR_PRECONDITION_FAILED'
        : isDeadline
          ? 'GOSSAMER_ERR_TIMEOUT'
          : 'GOSSAMER_ERR_QUORUM_NOT_REACHED'
    const error = failure({
      code,
      required: this.required,
      received: acks,
      slots: this.#slots,
      refused: this.#refusals,
      streamingIn: this.#slots.filter((slot) => slot.status === 'acked' && slot.streamingIn).length,
      settled: { received: settled, required: this.#settledRequired },
    })
    this.#result = { ok: false, version: this.record.version, error }
    return this.#result
  }
}

/** A read request. */
export interface ReadRequest extends Targets {
  readonly requestId: number
  readonly key: string
  readonly r: Consistency
  readonly nowMs: number
  /** The request fails with GOSSAMER_ERR_TIMEOUT when R replies have not arrived by then. */
  readonly deadlineMs: number
  /** Until when late replies still feed read repair. @default deadlineMs */
  readonly repairDeadlineMs?: number | undefined
}

interface ReadSlot {
  readonly node: string
  status: SlotStatus
  record: StoredRecord | undefined
  /** Replied with a record this node cannot accept (`onUnusableReply`). */
  unusable: boolean
}

/** A quorum read for one key, with read repair. See the file header. */
export class ReadCoordinator {
  readonly requestId: number
  readonly key: string
  readonly required: number
  readonly #request: ReadRequest
  readonly #slots: ReadSlot[]
  // What each node was last sent by read repair, so a late reply does not repeat a repair.
  readonly #repairedWith = new Map<string, Version>()
  #refusals = 0
  #result: ReadResult | undefined

  constructor(request: ReadRequest) {
    this.#request = request
    this.requestId = request.requestId
    this.key = request.key
    this.required = requiredCount(request.r, request.replicas.length)
    this.#usableRequired = Math.min(this.required, requiredCount('quorum', request.replicas.length))
    this.#slots = request.replicas.map((node) => ({
      node,
      status: 'pending' as SlotStatus,
      record: undefined,
      unusable: false,
    }))
  }

  // Answers that must be usable: see `onUnusableReply`.
  readonly #usableRequired: number

  /** Sends a get to every reachable replica. */
  start(): CoordinatorStep<ReadResult> {
    const send: Outgoing[] = []
    for (const slot of this.#slots) {
      if (!this.#request.isReachable(slot.node)) slot.status = 'unreachable'
      else send.push({ to: slot.node, message: this.#get() })
    }
    return { send, completed: this.#evaluate(this.#request.nowMs) }
  }

  /** A replica's answer, early or late. Late answers only feed read repair. */
  onReply(from: string, reply: GetReplyMessage, nowMs: number): CoordinatorStep<ReadResult> {
    const slot = this.#slots.find((s) => s.node === from && s.status === 'pending')
    if (slot === undefined || reply.requestId !== this.requestId) return { send: [] }
    slot.status = 'replied'
    slot.record = reply.record
    const completed = this.#evaluate(nowMs)
    return { send: this.#repairs(), completed }
  }

  /**
   * `from` answered with a record this node cannot accept: a version further ahead of its clock
   * than the skew bound, written by a node whose clock ran ahead (it may have replaced that
   * replica's copy of an acknowledged write). The answer counts towards `r`, but the result
   * must also rest on at least min(`r`, quorum) usable answers, so such a replica never makes
   * up a quorum with one that missed the write (the multi-process clock-skew test saw a quorum
   * read return the older of two acknowledged writes), while `r=all` still answers when every
   * replica did. The record feeds neither the result nor read repair.
   */
  onUnusableReply(from: string, nowMs: number): CoordinatorStep<ReadResult> {
    const slot = this.#slots.find((s) => s.node === from && s.status === 'pending')
    if (slot === undefined) return { send: [] }
    slot.status = 'replied'
    slot.unusable = true
    const completed = this.#evaluate(nowMs)
    return { send: this.#repairs(), completed }
  }

  /** The transport could not reach `from`, or its call timed out. */
  onFailure(from: string, nowMs: number): CoordinatorStep<ReadResult> {
    const slot = this.#slots.find((s) => s.node === from && s.status === 'pending')
    if (slot === undefined) return { send: [] }
    slot.status = 'failed'
    const completed = this.#evaluate(nowMs)
    return { send: this.#repairs(), completed }
  }

  /**
   * `from` answered, but refused the get (it does not hold the key's partition, or places it
   * on other replicas: `routeGet`): a failure, counted in `ReplicationFailure.refused` so the
   * driver may retry (`refusalRetryDelayMs`).
   */
  onRefusal(from: string, nowMs: number): CoordinatorStep<ReadResult> {
    const slot = this.#slots.find((s) => s.node === from && s.status === 'pending')
    if (slot === undefined) return { send: [] }
    slot.status = 'failed'
    this.#refusals += 1
    const completed = this.#evaluate(nowMs)
    return { send: this.#repairs(), completed }
  }

  /** Time passes: the read may time out; after the repair deadline the request settles. */
  tick(nowMs: number): CoordinatorStep<ReadResult> {
    if (nowMs < this.#request.deadlineMs) return { send: [] }
    const completed = this.#evaluate(nowMs, true)
    if (nowMs >= this.#repairDeadlineMs()) {
      for (const slot of this.#slots) if (slot.status === 'pending') slot.status = 'failed'
    }
    return { send: this.#repairs(), completed }
  }

  get result(): ReadResult | undefined {
    return this.#result
  }

  /** True when completed and no reply is awaited any more. */
  get isSettled(): boolean {
    return this.#result !== undefined && this.#slots.every((slot) => slot.status !== 'pending')
  }

  reports(): ReplicaReport[] {
    return this.#slots.map((slot) => ({ node: slot.node, status: slot.status }))
  }

  #get(): Outgoing['message'] {
    return {
      type: 'get',
      requestId: this.requestId,
      key: this.key,
      replicas: this.#request.replicas,
    }
  }

  #repairDeadlineMs(): number {
    return this.#request.repairDeadlineMs ?? this.#request.deadlineMs
  }

  // The usable answers (see `onUnusableReply`).
  #replies(): ReadReply[] {
    return this.#slots
      .filter((slot) => slot.status === 'replied' && !slot.unusable)
      .map((slot) => ({ node: slot.node, record: slot.record }))
  }

  #evaluate(nowMs: number, atDeadline = false): ReadResult | undefined {
    if (this.#result !== undefined) return undefined
    const isDeadline = atDeadline || nowMs >= this.#request.deadlineMs
    const replies = this.#replies()
    const answered = this.#slots.filter((slot) => slot.status === 'replied').length
    if (answered >= this.required && replies.length >= this.#usableRequired) {
      const newest = newestRecord(replies)
      const record = isLive(newest, nowMs) ? newest : undefined
      this.#result = { ok: true, record, newest, replies: answered }
      return this.#result
    }
    const pending = this.#slots.filter((slot) => slot.status === 'pending').length
    if (
      !isDeadline &&
      answered + pending >= this.required &&
      replies.length + pending >= this.#usableRequired
    )
      return undefined
    const code = isDeadline ? 'GOSSAMER_ERR_TIMEOUT' : 'GOSSAMER_ERR_QUORUM_NOT_REACHED'
    const error = failure({
      code,
      required: this.required,
      received: replies.length,
      slots: this.#slots,
      refused: this.#refusals,
    })
    this.#result = { ok: false, error }
    return this.#result
  }

  /** Repairs not yet sent. Only once the read completed: repairs never delay the answer. */
  #repairs(): Outgoing[] {
    if (this.#result === undefined) return []
    const send: Outgoing[] = []
    for (const target of planReadRepair(this.#replies())) {
      const sent = this.#repairedWith.get(target.node)
      if (sent !== undefined && compareVersions(sent, target.record.version) >= 0) continue
      this.#repairedWith.set(target.node, target.record.version)
      send.push({
        to: target.node,
        message: { type: 'put', requestId: this.requestId, key: this.key, record: target.record },
      })
    }
    return send
  }
}

/** First pause before a failed request is coordinated again (`refusalRetryDelayMs`). */
export const REFUSAL_RETRY_FIRST_DELAY_MS = 100
/** Most times one request is coordinated again. */
export const REFUSAL_RETRIES_MAX = 4

/**
 * How long to wait before coordinating a failed request again, under the placement current
 * then, or undefined to give up. Replicas refuse a coordinator whose placement gives the key's
 * partition other replicas than theirs (the placement fence, `replica.ts`
 * `placementFenceRefusal`), and while an ownership change spreads, for a few hundred
 * milliseconds, coordinators and replicas disagree. So a request that failed to reach its
 * quorum after a replica refused it (`ReplicationFailure.refused`: a definite answer from a
 * live node; not calls that failed or timed out, whose retries would only hold the client
 * longer, and not a 412 or a timeout), or a write that missed its acks from settled replicas
 * because new ones were still streaming the partition in (`ReplicationFailure.streamingIn`;
 * their transfers end within moments when the old replicas are up), is tried again after 100,
 * 200, 400, 800 ms, at most `REFUSAL_RETRIES_MAX` times and only while the pause ends before
 * `deadlineMs`, the request's original deadline: a retry never extends it. A write is retried with its first
 * version (`WriteRequest.version`), a read is simply asked again. Pure.
 */
export function refusalRetryDelayMs(input: {
  readonly result: WriteResult | ReadResult
  /** Retries already made (0 after the first attempt). */
  readonly retries: number
  readonly nowMs: number
  readonly deadlineMs: number
}): number | undefined {
  const { result, retries } = input
  if (result.ok || retries >= REFUSAL_RETRIES_MAX) return undefined
  if (result.error.code !== 'GOSSAMER_ERR_QUORUM_NOT_REACHED') return undefined
  if ((result.error.refused ?? 0) === 0 && (result.error.streamingIn ?? 0) === 0) return undefined
  const delayMs = REFUSAL_RETRY_FIRST_DELAY_MS * 2 ** retries
  return input.nowMs + delayMs < input.deadlineMs ? delayMs : undefined
}

function makeRecord(request: WriteRequest, version: Version): StoredRecord {
  return {
    version,
    value: request.value,
    expiresAtMs: request.expiresAtMs,
    contentType: request.contentType,
  }
}

function report(slot: Slot): ReplicaReport {
  return slot.hinted
    ? { node: slot.node, hintFor: slot.intended, status: slot.status }
    : { node: slot.node, status: slot.status }
}

function failure(input: {
  code: ReplicationErrorCode
  required: number
  received: number
  slots: ReadonlyArray<Slot | ReadSlot>
  refused?: number
  streamingIn?: number
  /** A write's acks from settled replicas, when those fell short although W acks arrived. */
  settled?: { readonly received: number; readonly required: number }
}): ReplicationFailure {
  const verb = input.code === 'GOSSAMER_ERR_TIMEOUT' ? 'timed out with' : 'reached only'
  const refused = input.refused ?? 0
  const streamingIn = input.streamingIn ?? 0
  const notes = [
    ...(refused > 0 ? [`${refused} refused`] : []),
    ...(streamingIn > 0
      ? [`${streamingIn} from new replicas still streaming the partition in`]
      : []),
  ]
  const settled = input.settled
  const answers =
    settled !== undefined && input.received >= input.required
      ? `${verb === 'reached only' ? 'reached' : verb} ${input.received} of ${input.required} ` +
        `required replica answers, only ${settled.received} of ${settled.required} from ` +
        'settled replicas'
      : `${verb} ${input.received} of ${input.required} required replica answers`
  return {
    code: input.code,
    message: answers + (notes.length > 0 ? ` (${notes.join(', ')})` : ''),
    required: input.required,
    received: input.received,
    replicas: input.slots.map((slot) =>
      'intended' in slot ? report(slot) : { node: slot.node, status: slot.status },
    ),
    ...(refused > 0 ? { refused } : {}),
    ...(streamingIn > 0 ? { streamingIn } : {}),
  }
}
