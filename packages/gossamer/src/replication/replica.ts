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
 * store: this node is a fallback, not an owner of the key's partition.
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

/** A `put` from a coordinator (or a read repair). */
export function handlePut(input: {
  readonly store: ReplicaReader
  readonly hints: HintedHandoff
  readonly from: string
  readonly message: PutMessage
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
  const entry = { key: message.key, record: message.record, condition: message.condition }
  const outcome = decideWrite(input.store.getRecord(message.key), entry)
  if (outcome.status !== 'applied') {
    const current = outcome.current?.version
    const reply: PutReplyMessage = { ...putReply(message.requestId, outcome.status), current }
    return { send: [{ to: from, message: reply }], persist: [], hintPersist: [] }
  }
  const reply = putReply(message.requestId, 'applied')
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
 * simulator, seed 37: an acknowledged If-None-Match put lost). A `stale` outcome stays an ack.
 */
export function putReplyAfterWrite<M extends Outgoing['message'] | undefined>(
  planned: M,
  outcome: WriteOutcome | undefined,
): M | PutReplyMessage {
  if (planned?.type !== 'put-reply' || planned.status !== 'applied') return planned
  if (outcome?.status !== 'condition_failed') return planned
  return { ...planned, status: 'condition_failed', current: outcome.current?.version }
}

function putReply(requestId: number, status: PutReplyMessage['status']): PutReplyMessage {
  return { type: 'put-reply', requestId, status }
}
