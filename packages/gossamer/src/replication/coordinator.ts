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
 * Reads. Sent to the reachable replicas only: fallbacks keep hints apart from their data, so
 * they have nothing to answer with. The newest reply by version wins; a tombstone or an expired
 * record reads as not found. After completion the coordinator keeps listening until every
 * replica answered or `repairDeadlineMs` passed, and every reply, early or late, feeds read
 * repair (`read-repair.ts`).
 *
 * Completion: success as soon as W acks / R replies count; failure as soon as they no longer
 * can (`GOSSAMER_ERR_QUORUM_NOT_REACHED`, or `GOSSAMER_ERR_PRECONDITION_FAILED` when replicas
 * rejected a conditional write), or `GOSSAMER_ERR_TIMEOUT` at the deadline. A failed write may
 * still have been applied by some replicas; last-writer-wins and repair decide its fate.
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
}

/** A quorum write for one key. See the file header. */
export class WriteCoordinator {
  readonly requestId: number
  readonly key: string
  readonly record: StoredRecord
  readonly required: number
  readonly #request: WriteRequest
  readonly #slots: Slot[]
  readonly #usedFallbacks = new Set<string>()
  #result: WriteResult | undefined

  constructor(request: WriteRequest) {
    this.#request = request
    this.requestId = request.requestId
    this.key = request.key
    this.record = makeRecord(request, request.hlc.now())
    this.required = requiredCount(request.w, request.replicas.length)
    this.#slots = request.replicas.map((node) => ({
      intended: node,
      node,
      hinted: false,
      status: 'pending' as SlotStatus,
    }))
  }

  /** Sends to every replica (or its fallback); may complete at once if W is unreachable. */
  start(): CoordinatorStep<WriteResult> {
    const send: Outgoing[] = []
    for (const slot of this.#slots) {
      if (!this.#request.isReachable(slot.node)) this.#moveToFallback(slot)
      if (slot.status === 'pending') send.push(this.#putFor(slot))
    }
    return { send, completed: this.#evaluate(this.#request.nowMs) }
  }

  /** A replica's (or fallback's) answer. Replies from nodes not asked are ignored. */
  onReply(from: string, reply: PutReplyMessage, nowMs: number): CoordinatorStep<WriteResult> {
    const slot = this.#pendingSlot(from)
    if (slot === undefined || reply.requestId !== this.requestId) return { send: [] }
    if (reply.status === 'applied' || reply.status === 'stale') {
      slot.status = slot.hinted ? 'hinted' : 'acked'
      return { send: [], completed: this.#evaluate(nowMs) }
    }
    if (reply.status === 'condition_failed') {
      slot.status = 'rejected'
      return { send: [], completed: this.#evaluate(nowMs) }
    }
    return this.onFailure(from, nowMs) // refused: the fallback's hint queue is full
  }

  /**
   * The transport could not deliver to `from` or its call timed out. The slot moves to the next
   * reachable fallback (also after completion, so the record still reaches N nodes).
   */
  onFailure(from: string, nowMs: number): CoordinatorStep<WriteResult> {
    const slot = this.#pendingSlot(from)
    if (slot === undefined) return { send: [] }
    const send: Outgoing[] = []
    if (nowMs < this.#request.deadlineMs) this.#moveToFallback(slot)
    else slot.status = 'failed'
    if (slot.status === 'pending') send.push(this.#putFor(slot))
    return { send, completed: this.#evaluate(nowMs) }
  }

  /** Time passes: at the deadline, pending slots stop counting and the request may time out. */
  tick(nowMs: number): CoordinatorStep<WriteResult> {
    if (nowMs < this.#request.deadlineMs) return { send: [] }
    for (const slot of this.#slots) if (slot.status === 'pending') slot.status = 'failed'
    return { send: [], completed: this.#evaluate(nowMs, true) }
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
      },
    }
  }

  #counts(slot: Slot): boolean {
    return slot.status === 'acked' || (slot.status === 'hinted' && this.#countHinted())
  }

  #mayStillCount(slot: Slot): boolean {
    return slot.status === 'pending' && (!slot.hinted || this.#countHinted())
  }

  #countHinted(): boolean {
    return this.#request.countHintedAcks === true
  }

  #evaluate(nowMs: number, atDeadline = false): WriteResult | undefined {
    if (this.#result !== undefined) return undefined
    const isDeadline = atDeadline || nowMs >= this.#request.deadlineMs
    const acks = this.#slots.filter((slot) => this.#counts(slot)).length
    if (acks >= this.required) {
      this.#result = { ok: true, version: this.record.version, acks, replicas: this.reports() }
      return this.#result
    }
    const possible = acks + this.#slots.filter((slot) => this.#mayStillCount(slot)).length
    if (possible >= this.required && !isDeadline) return undefined
    const rejected = this.#slots.some((slot) => slot.status === 'rejected')
    const code: ReplicationErrorCode = isDeadline
      ? 'GOSSAMER_ERR_TIMEOUT'
      : rejected
        ? 'GOSSAMER_ERR_PRECONDITION_FAILED'
        : 'GOSSAMER_ERR_QUORUM_NOT_REACHED'
    const error = failure({ code, required: this.required, received: acks, slots: this.#slots })
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
  #result: ReadResult | undefined

  constructor(request: ReadRequest) {
    this.#request = request
    this.requestId = request.requestId
    this.key = request.key
    this.required = requiredCount(request.r, request.replicas.length)
    this.#slots = request.replicas.map((node) => ({
      node,
      status: 'pending' as SlotStatus,
      record: undefined,
    }))
  }

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

  /** The transport could not reach `from`, or its call timed out. */
  onFailure(from: string, nowMs: number): CoordinatorStep<ReadResult> {
    const slot = this.#slots.find((s) => s.node === from && s.status === 'pending')
    if (slot === undefined) return { send: [] }
    slot.status = 'failed'
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
    return { type: 'get', requestId: this.requestId, key: this.key }
  }

  #repairDeadlineMs(): number {
    return this.#request.repairDeadlineMs ?? this.#request.deadlineMs
  }

  #replies(): ReadReply[] {
    return this.#slots
      .filter((slot) => slot.status === 'replied')
      .map((slot) => ({ node: slot.node, record: slot.record }))
  }

  #evaluate(nowMs: number, atDeadline = false): ReadResult | undefined {
    if (this.#result !== undefined) return undefined
    const isDeadline = atDeadline || nowMs >= this.#request.deadlineMs
    const replies = this.#replies()
    if (replies.length >= this.required) {
      const newest = newestRecord(replies)
      const record = isLive(newest, nowMs) ? newest : undefined
      this.#result = { ok: true, record, newest, replies: replies.length }
      return this.#result
    }
    const pending = this.#slots.filter((slot) => slot.status === 'pending').length
    if (!isDeadline && replies.length + pending >= this.required) return undefined
    const code = isDeadline ? 'GOSSAMER_ERR_TIMEOUT' : 'GOSSAMER_ERR_QUORUM_NOT_REACHED'
    const error = failure({
      code,
      required: this.required,
      received: replies.length,
      slots: this.#slots,
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
}): ReplicationFailure {
  const verb = input.code === 'GOSSAMER_ERR_TIMEOUT' ? 'timed out with' : 'reached only'
  return {
    code: input.code,
    message: `${verb} ${input.received} of ${input.required} required replica answers`,
    required: input.required,
    received: input.received,
    replicas: input.slots.map((slot) =>
      'intended' in slot ? report(slot) : { node: slot.node, status: slot.status },
    ),
  }
}
