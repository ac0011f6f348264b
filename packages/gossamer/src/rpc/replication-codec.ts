/**
 * Binary layouts of the replication messages (`src/replication/messages.ts`; architecture §6–7;
 * docs/rpc.md "Replication methods"). Every message that starts an exchange is the request of
 * one RPC method, and the message that answers it is that method's response, so the RPC layer's
 * request ids, timeouts and backpressure carry every replication exchange:
 *
 * | request message        | method           | response message        |
 * |------------------------|------------------|-------------------------|
 * | `put`                  | `replicaPut`     | `put-reply`             |
 * | `get`                  | `replicaGet`     | `get-reply`             |
 * | `hint-deliver`         | `hintDeliver`    | `hint-ack`              |
 * | `aae-hashes-request`   | `aaeHashes`      | `aae-hashes`            |
 * | `aae-keys`             | `aaeKeys`        | `aae-keys-reply`        |
 * | `aae-push`             | `aaePush`        | empty (persisted)       |
 * | `handoff-request`      | `handoffRequest` | `handoff-batch`         |
 * | `handoff-done`         | `handoffDone`    | empty (received)        |
 *
 * A request travels in an envelope `{ from, message }`: `from` is the sending node's name, which
 * the receiving cores need (anti-entropy keys peer trees by it, rebalance counts `handoff-done`
 * by it) and which the TCP peer address cannot give. A reply needs no sender: the caller knows
 * whom it called. Core ids (`requestId`, `deliveryId`, `sessionId`, `transferId`) are `u64`, so
 * they never wrap within a process lifetime. Pure: no I/O; decoders are total.
 */
import type {
  AaeHashesMessage,
  AaeHashesRequestMessage,
  AaeKeysMessage,
  AaeKeysReplyMessage,
  AaePushMessage,
  GetMessage,
  GetReplyMessage,
  HandoffBatchMessage,
  HandoffDoneMessage,
  HandoffRequestMessage,
  HintAckMessage,
  HintDeliverMessage,
  KeyedRecord,
  KeyVersion,
  PutMessage,
  PutReplyMessage,
  PutStatus,
  ReplicationMessage,
  TreeShape,
} from '../replication/messages.ts'
import type { WriteCondition } from '../storage/engine.ts'
import type { PayloadReader, PayloadWriter } from './payload.ts'
import {
  type Codec,
  RECORD_BYTES_MIN,
  readList,
  readOptionalString,
  readOptionalVersion,
  readRecord,
  readVersion,
  VERSION_BYTES_MIN,
  writeList,
  writeOptionalString,
  writeOptionalVersion,
  writeRecord,
  writeVersion,
} from './records.ts'

/** A replication request with the name of the node that sent it. */
export interface ReplicationEnvelope<M extends ReplicationMessage = ReplicationRequest> {
  /** Name of the sending node (its memberlist name). */
  readonly from: string
  readonly message: M
}

/** Messages that start an exchange (each is the request of one RPC method). */
export type ReplicationRequest =
  | PutMessage
  | GetMessage
  | HintDeliverMessage
  | AaeHashesRequestMessage
  | AaeKeysMessage
  | AaePushMessage
  | HandoffRequestMessage
  | HandoffDoneMessage

/** Messages that answer a request (each is the response of one RPC method). */
export type ReplicationReply =
  | PutReplyMessage
  | GetReplyMessage
  | HintAckMessage
  | AaeHashesMessage
  | AaeKeysReplyMessage
  | HandoffBatchMessage

/** The reply message type of each request type; `undefined` for one-way requests. */
export type ReplyFor<T extends ReplicationRequest> = T extends PutMessage
  ? PutReplyMessage
  : T extends GetMessage
    ? GetReplyMessage
    : T extends HintDeliverMessage
      ? HintAckMessage
      : T extends AaeHashesRequestMessage
        ? AaeHashesMessage
        : T extends AaeKeysMessage
          ? AaeKeysReplyMessage
          : T extends HandoffRequestMessage
            ? HandoffBatchMessage
            : undefined

/** Which message type answers which request type (`null`: one-way, the response is empty). */
export const REPLY_TYPE_OF = {
  put: 'put-reply',
  get: 'get-reply',
  'hint-deliver': 'hint-ack',
  'aae-hashes-request': 'aae-hashes',
  'aae-keys': 'aae-keys-reply',
  'aae-push': null,
  'handoff-request': 'handoff-batch',
  'handoff-done': null,
} as const satisfies Record<ReplicationRequest['type'], ReplicationReply['type'] | null>

/** The RPC method of every replication message, requests and replies alike. */
export const REPLICATION_METHOD_OF = {
  put: 'replicaPut',
  'put-reply': 'replicaPut',
  get: 'replicaGet',
  'get-reply': 'replicaGet',
  'hint-deliver': 'hintDeliver',
  'hint-ack': 'hintDeliver',
  'aae-hashes-request': 'aaeHashes',
  'aae-hashes': 'aaeHashes',
  'aae-keys': 'aaeKeys',
  'aae-keys-reply': 'aaeKeys',
  'aae-push': 'aaePush',
  'handoff-request': 'handoffRequest',
  'handoff-batch': 'handoffRequest',
  'handoff-done': 'handoffDone',
} as const satisfies Record<ReplicationMessage['type'], string>

/** A replication RPC method's name. */
export type ReplicationMethodName = (typeof REPLICATION_METHOD_OF)[ReplicationMessage['type']]

/** True when `message` starts an exchange (is an RPC request). */
export function isReplicationRequest(message: ReplicationMessage): message is ReplicationRequest {
  return Object.hasOwn(REPLY_TYPE_OF, message.type)
}

/**
 * The id that ties a message to its exchange (`requestId`, `deliveryId`, `sessionId`,
 * `transferId`), or undefined for `handoff-done`, which carries only its partition.
 */
export function correlationIdOf(message: ReplicationMessage): number | undefined {
  switch (message.type) {
    case 'put':
    case 'put-reply':
    case 'get':
    case 'get-reply':
      return message.requestId
    case 'hint-deliver':
    case 'hint-ack':
      return message.deliveryId
    case 'aae-hashes-request':
    case 'aae-hashes':
    case 'aae-keys':
    case 'aae-keys-reply':
    case 'aae-push':
      return message.sessionId
    case 'handoff-request':
    case 'handoff-batch':
      return message.transferId
    case 'handoff-done':
      return undefined
  }
}

/** True when `reply` is the answer to `request`: the reply type and correlation id match. */
export function isReplyTo(request: ReplicationRequest, reply: ReplicationMessage): boolean {
  return (
    REPLY_TYPE_OF[request.type] === reply.type &&
    correlationIdOf(request) === correlationIdOf(reply)
  )
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** A batch of records without a condition (`putBatch`). */
export interface PutBatchRequest {
  /** Name of the sending node. */
  readonly from: string
  readonly entries: readonly KeyedRecord[]
}

/** Per-entry outcome of `putBatch`, in request order. */
export interface PutBatchResponse {
  readonly statuses: ReadonlyArray<'applied' | 'stale' | 'condition_failed'>
}

const KEYED_RECORD_BYTES_MIN = 2 + RECORD_BYTES_MIN
const KEY_VERSION_BYTES_MIN = 2 + VERSION_BYTES_MIN + 1
const PUT_STATUS: readonly PutStatus[] = ['applied', 'stale', 'condition_failed', 'refused']
const BATCH_STATUS = ['applied', 'stale', 'condition_failed'] as const
const HASH_PATTERN = /^[0-9a-f]{16}$/

function writeKeyedRecord(w: PayloadWriter, entry: KeyedRecord): void {
  w.string(entry.key)
  writeRecord(w, entry.record)
}

function readKeyedRecords(r: PayloadReader): KeyedRecord[] {
  return readList(r, KEYED_RECORD_BYTES_MIN, () => ({ key: r.string(), record: readRecord(r) }))
}

function writeKeyVersion(w: PayloadWriter, entry: KeyVersion): void {
  w.string(entry.key)
  writeVersion(w, entry.version)
  w.u8(entry.tombstone ? 1 : 0)
}

function readKeyVersion(r: PayloadReader): KeyVersion {
  return { key: r.string(), version: readVersion(r), tombstone: r.flag() }
}

function writeShape(w: PayloadWriter, shape: TreeShape): void {
  w.u16(shape.fanout)
  w.u8(shape.depth)
}

function readShape(r: PayloadReader): TreeShape {
  return { fanout: r.u16(), depth: r.u8() }
}

/** A tree hash (16 lowercase hex digits) as 8 bytes. */
function writeHash(w: PayloadWriter, hash: string): void {
  if (!HASH_PATTERN.test(hash)) throw new RangeError(`tree hash must be 16 hex digits: ${hash}`)
  w.u32(Number.parseInt(hash.slice(0, 8), 16))
  w.u32(Number.parseInt(hash.slice(8), 16))
}

function readHash(r: PayloadReader): string {
  return r.u32().toString(16).padStart(8, '0') + r.u32().toString(16).padStart(8, '0')
}

// The placement fence of a put or get (`PutMessage.replicas`) and the hand-off fence of a
// handoff-request (`HandoffRequestMessage.replicas`): absent, or a list of node names.
function writeFence(w: PayloadWriter, replicas: readonly string[] | undefined): void {
  w.u8(replicas === undefined ? 0 : 1)
  if (replicas !== undefined) writeList(w, replicas, (w, name) => w.string(name))
}

function readFence(r: PayloadReader): string[] | undefined {
  return r.flag() ? readList(r, 2, () => r.string()) : undefined
}

function writeCondition(w: PayloadWriter, condition: WriteCondition | undefined): void {
  if (condition === undefined) w.u8(0)
  else if (condition.kind === 'absent') w.u8(2)
  else {
    w.u8(1)
    writeVersion(w, condition.version)
  }
}

function readCondition(r: PayloadReader): WriteCondition | undefined {
  const tag = r.u8()
  if (tag === 0) return undefined
  if (tag === 1) return { kind: 'version', version: readVersion(r) }
  if (tag === 2) return { kind: 'absent' }
  return r.fail('write condition')
}

function envelope<M extends ReplicationRequest>(body: Codec<M>): Codec<ReplicationEnvelope<M>> {
  return {
    write(w, value) {
      w.string(value.from)
      body.write(w, value.message)
    },
    read: (r) => ({ from: r.string(), message: body.read(r) }),
  }
}

// ---------------------------------------------------------------------------------------------
// One layout per message

const put: Codec<PutMessage> = {
  write(w, m) {
    w.u64(m.requestId)
    w.string(m.key)
    writeRecord(w, m.record)
    writeOptionalString(w, m.hintFor)
    writeCondition(w, m.condition)
    writeFence(w, m.replicas)
  },
  read(r) {
    const requestId = r.u64()
    const key = r.string()
    const record = readRecord(r)
    const hintFor = readOptionalString(r)
    const condition = readCondition(r)
    const replicas = readFence(r)
    const m: { -readonly [K in keyof PutMessage]: PutMessage[K] } = {
      type: 'put',
      requestId,
      key,
      record,
    }
    if (hintFor !== undefined) m.hintFor = hintFor
    if (condition !== undefined) m.condition = condition
    if (replicas !== undefined) m.replicas = replicas
    return m
  },
}

const putReply: Codec<PutReplyMessage> = {
  write(w, m) {
    w.u64(m.requestId)
    w.u8(PUT_STATUS.indexOf(m.status))
    writeOptionalVersion(w, m.current)
    w.u8(m.streamingIn === true ? 1 : 0)
  },
  read(r) {
    const requestId = r.u64()
    const status = PUT_STATUS[r.u8()] ?? r.fail('put status')
    const current = readOptionalVersion(r)
    const streamingIn = r.flag()
    const m: { -readonly [K in keyof PutReplyMessage]: PutReplyMessage[K] } = {
      type: 'put-reply',
      requestId,
      status,
    }
    if (current !== undefined) m.current = current
    if (streamingIn) m.streamingIn = true
    return m
  },
}

const get: Codec<GetMessage> = {
  write(w, m) {
    w.u64(m.requestId)
    w.string(m.key)
    writeFence(w, m.replicas)
  },
  read(r) {
    const requestId = r.u64()
    const key = r.string()
    const replicas = readFence(r)
    return replicas === undefined
      ? { type: 'get', requestId, key }
      : { type: 'get', requestId, key, replicas }
  },
}

const getReply: Codec<GetReplyMessage> = {
  write(w, m) {
    w.u64(m.requestId)
    w.u8(m.record !== undefined ? 1 : 0)
    if (m.record !== undefined) writeRecord(w, m.record)
  },
  read: (r) => ({
    type: 'get-reply',
    requestId: r.u64(),
    record: r.flag() ? readRecord(r) : undefined,
  }),
}

const hintDeliver: Codec<HintDeliverMessage> = {
  write(w, m) {
    w.u64(m.deliveryId)
    w.string(m.key)
    writeRecord(w, m.record)
  },
  read: (r) => ({
    type: 'hint-deliver',
    deliveryId: r.u64(),
    key: r.string(),
    record: readRecord(r),
  }),
}

const hintAck: Codec<HintAckMessage> = {
  write: (w, m) => w.u64(m.deliveryId),
  read: (r) => ({ type: 'hint-ack', deliveryId: r.u64() }),
}

const aaeHashesRequest: Codec<AaeHashesRequestMessage> = {
  write(w, m) {
    w.u64(m.sessionId)
    w.u32(m.partition)
    writeShape(w, m.shape)
    w.u8(m.level)
    writeList(w, m.indexes, (w, index) => w.u32(index))
  },
  read: (r) => ({
    type: 'aae-hashes-request',
    sessionId: r.u64(),
    partition: r.u32(),
    shape: readShape(r),
    level: r.u8(),
    indexes: readList(r, 4, () => r.u32()),
  }),
}

const aaeHashes: Codec<AaeHashesMessage> = {
  write(w, m) {
    w.u64(m.sessionId)
    w.u32(m.partition)
    w.u8(m.level)
    writeList(w, m.hashes, (w, h) => {
      w.u32(h.index)
      writeHash(w, h.hash)
    })
  },
  read: (r) => ({
    type: 'aae-hashes',
    sessionId: r.u64(),
    partition: r.u32(),
    level: r.u8(),
    hashes: readList(r, 12, () => ({ index: r.u32(), hash: readHash(r) })),
  }),
}

const aaeKeys: Codec<AaeKeysMessage> = {
  write(w, m) {
    w.u64(m.sessionId)
    w.u32(m.partition)
    writeShape(w, m.shape)
    writeList(w, m.buckets, (w, bucket) => w.u32(bucket))
    writeList(w, m.entries, writeKeyVersion)
  },
  read: (r) => ({
    type: 'aae-keys',
    sessionId: r.u64(),
    partition: r.u32(),
    shape: readShape(r),
    buckets: readList(r, 4, () => r.u32()),
    entries: readList(r, KEY_VERSION_BYTES_MIN, () => readKeyVersion(r)),
  }),
}

const aaeKeysReply: Codec<AaeKeysReplyMessage> = {
  write(w, m) {
    w.u64(m.sessionId)
    w.u32(m.partition)
    writeList(w, m.records, writeKeyedRecord)
    writeList(w, m.wanted, (w, key) => w.string(key))
  },
  read: (r) => ({
    type: 'aae-keys-reply',
    sessionId: r.u64(),
    partition: r.u32(),
    records: readKeyedRecords(r),
    wanted: readList(r, 2, () => r.string()),
  }),
}

const aaePush: Codec<AaePushMessage> = {
  write(w, m) {
    w.u64(m.sessionId)
    w.u32(m.partition)
    writeList(w, m.records, writeKeyedRecord)
  },
  read: (r) => ({
    type: 'aae-push',
    sessionId: r.u64(),
    partition: r.u32(),
    records: readKeyedRecords(r),
  }),
}

const handoffRequest: Codec<HandoffRequestMessage> = {
  write(w, m) {
    w.u64(m.transferId)
    w.u32(m.partition)
    writeOptionalString(w, m.after)
    w.u32(m.limit)
    writeFence(w, m.replicas)
  },
  read(r) {
    const transferId = r.u64()
    const partition = r.u32()
    const after = readOptionalString(r)
    const limit = r.u32()
    const replicas = readFence(r)
    const m: { -readonly [K in keyof HandoffRequestMessage]: HandoffRequestMessage[K] } = {
      type: 'handoff-request',
      transferId,
      partition,
      limit,
    }
    if (after !== undefined) m.after = after
    if (replicas !== undefined) m.replicas = replicas
    return m
  },
}

const handoffBatch: Codec<HandoffBatchMessage> = {
  write(w, m) {
    w.u64(m.transferId)
    w.u32(m.partition)
    writeList(w, m.entries, writeKeyedRecord)
    writeOptionalString(w, m.cursor)
    w.u8(m.partial === true ? 1 : 0)
  },
  read(r) {
    const transferId = r.u64()
    const partition = r.u32()
    const entries = readKeyedRecords(r)
    const cursor = readOptionalString(r)
    const partial = r.flag()
    const m: { -readonly [K in keyof HandoffBatchMessage]: HandoffBatchMessage[K] } = {
      type: 'handoff-batch',
      transferId,
      partition,
      entries,
    }
    if (cursor !== undefined) m.cursor = cursor
    if (partial) m.partial = true
    return m
  },
}

const handoffDone: Codec<HandoffDoneMessage> = {
  write: (w, m) => w.u32(m.partition),
  read: (r) => ({ type: 'handoff-done', partition: r.u32() }),
}

const none: Codec<Record<string, never>> = { write() {}, read: () => ({}) }

const putBatchRequest: Codec<PutBatchRequest> = {
  write(w, q) {
    w.string(q.from)
    writeList(w, q.entries, writeKeyedRecord)
  },
  read: (r) => ({ from: r.string(), entries: readKeyedRecords(r) }),
}

const putBatchResponse: Codec<PutBatchResponse> = {
  write: (w, s) => writeList(w, s.statuses, (w, status) => w.u8(BATCH_STATUS.indexOf(status))),
  read: (r) => ({ statuses: readList(r, 1, () => BATCH_STATUS[r.u8()] ?? r.fail('status')) }),
}

/** Request and response shapes of the replication methods (merged into `RpcMethods`). */
export interface ReplicationRpcMethods {
  replicaPut: { request: ReplicationEnvelope<PutMessage>; response: PutReplyMessage }
  replicaGet: { request: ReplicationEnvelope<GetMessage>; response: GetReplyMessage }
  hintDeliver: { request: ReplicationEnvelope<HintDeliverMessage>; response: HintAckMessage }
  aaeHashes: { request: ReplicationEnvelope<AaeHashesRequestMessage>; response: AaeHashesMessage }
  aaeKeys: { request: ReplicationEnvelope<AaeKeysMessage>; response: AaeKeysReplyMessage }
  aaePush: { request: ReplicationEnvelope<AaePushMessage>; response: Record<string, never> }
  handoffRequest: {
    request: ReplicationEnvelope<HandoffRequestMessage>
    response: HandoffBatchMessage
  }
  handoffDone: { request: ReplicationEnvelope<HandoffDoneMessage>; response: Record<string, never> }
  /** Many records in one frame and one commit (rebalancing, anti-entropy, bulk repair). */
  putBatch: { request: PutBatchRequest; response: PutBatchResponse }
}

/** The layouts of the replication methods (used by `codec.ts`). */
export const REPLICATION_CODECS: {
  [M in keyof ReplicationRpcMethods]: {
    request: Codec<ReplicationRpcMethods[M]['request']>
    response: Codec<ReplicationRpcMethods[M]['response']>
  }
} = {
  replicaPut: { request: envelope(put), response: putReply },
  replicaGet: { request: envelope(get), response: getReply },
  hintDeliver: { request: envelope(hintDeliver), response: hintAck },
  aaeHashes: { request: envelope(aaeHashesRequest), response: aaeHashes },
  aaeKeys: { request: envelope(aaeKeys), response: aaeKeysReply },
  aaePush: { request: envelope(aaePush), response: none },
  handoffRequest: { request: envelope(handoffRequest), response: handoffBatch },
  handoffDone: { request: envelope(handoffDone), response: none },
  putBatch: { request: putBatchRequest, response: putBatchResponse },
}
