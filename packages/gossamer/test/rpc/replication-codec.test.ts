// Goal: every replication message (src/replication/messages.ts) survives the wire unchanged,
// through the generic pair and through the per-method codecs; every request type maps to one
// method and one reply type; and no bytes — random, truncated or mutated valid payloads — make
// a replication decoder throw (malformed input is an `ok: false` result). Method: fast-check
// properties over every message type.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { Version } from '../../src/hlc/version.ts'
import type {
  HandoffRequestMessage,
  KeyedRecord,
  KeyVersion,
  ReplicationMessage,
  TreeShape,
} from '../../src/replication/messages.ts'
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  METHOD_IDS,
} from '../../src/rpc/codec.ts'
import {
  correlationIdOf,
  isReplicationRequest,
  isReplyTo,
  type PutBatchRequest,
  type PutBatchResponse,
  REPLICATION_METHOD_OF,
  REPLY_TYPE_OF,
  type ReplicationRequest,
} from '../../src/rpc/replication-codec.ts'
import {
  decodeReplicationMessage,
  encodeReplicationMessage,
} from '../../src/rpc/replication-rpc.ts'
import type { StoredRecord, WriteCondition } from '../../src/storage/engine.ts'

const id = fc.maxSafeNat()
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const key = fc.string({ maxLength: 24, unit: 'grapheme' })
const node = fc.string({ minLength: 1, maxLength: 12 })
const version: fc.Arbitrary<Version> = fc.record(
  { wallMs: fc.maxSafeNat(), logical: u32, nodeId: fc.string({ maxLength: 12 }) },
  { noNullPrototype: true },
)
const record: fc.Arbitrary<StoredRecord> = fc
  .tuple(
    version,
    fc.option(fc.uint8Array({ maxLength: 32 }), { nil: null }),
    fc.option(fc.maxSafeNat(), { nil: undefined }),
    fc.option(fc.string({ maxLength: 16 }), { nil: undefined }),
  )
  .map(([v, value, expiresAtMs, contentType]) => {
    const r: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = { version: v, value }
    if (expiresAtMs !== undefined) r.expiresAtMs = expiresAtMs
    if (contentType !== undefined) r.contentType = contentType
    return r
  })
const keyed: fc.Arbitrary<KeyedRecord> = fc.record({ key, record }, { noNullPrototype: true })
const keyVersion: fc.Arbitrary<KeyVersion> = fc.record(
  { key, version, tombstone: fc.boolean() },
  { noNullPrototype: true },
)
const shape: fc.Arbitrary<TreeShape> = fc.record(
  { fanout: fc.integer({ min: 0, max: 0xffff }), depth: fc.integer({ min: 0, max: 255 }) },
  { noNullPrototype: true },
)
const level = fc.integer({ min: 0, max: 255 })
const hash = fc
  .tuple(u32, u32)
  .map(([a, b]) => a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0'))
const condition: fc.Arbitrary<WriteCondition | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant({ kind: 'absent' as const }),
  version.map((v) => ({ kind: 'version' as const, version: v })),
)

/** Builds an object without the optional fields that are undefined (as decoders do). */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

// A placement fence (`PutMessage.replicas`, `GetMessage.replicas`) or a hand-off fence
// (`HandoffRequestMessage.replicas`).
const fence = fc.option(fc.array(node, { maxLength: 5 }), { nil: undefined })

const handoffRequest: fc.Arbitrary<HandoffRequestMessage> = fc
  .tuple(id, u32, fc.option(key, { nil: undefined }), u32, fence)
  .map(([transferId, partition, after, limit, replicas]) =>
    compact({ type: 'handoff-request' as const, transferId, partition, after, limit, replicas }),
  )

const message: fc.Arbitrary<ReplicationMessage> = fc.oneof(
  fc
    .tuple(id, key, record, fc.option(node, { nil: undefined }), condition, fence)
    .map(([requestId, k, r, hintFor, c, replicas]) =>
      compact({
        type: 'put' as const,
        requestId,
        key: k,
        record: r,
        hintFor,
        condition: c,
        replicas,
      }),
    ),
  fc
    .tuple(
      id,
      fc.constantFrom(
        'applied' as const,
        'stale' as const,
        'condition_failed' as const,
        'refused' as const,
      ),
      fc.option(version, { nil: undefined }),
      fc.option(fc.constant(true), { nil: undefined }),
    )
    .map(([requestId, status, current, streamingIn]) =>
      compact({ type: 'put-reply' as const, requestId, status, current, streamingIn }),
    ),
  fc
    .tuple(id, key, fence)
    .map(([requestId, k, replicas]) =>
      compact({ type: 'get' as const, requestId, key: k, replicas }),
    ),
  fc
    .tuple(id, fc.option(record, { nil: undefined }))
    .map(([requestId, r]) => ({ type: 'get-reply' as const, requestId, record: r })),
  fc.tuple(id, key, record).map(([deliveryId, k, r]) => ({
    type: 'hint-deliver' as const,
    deliveryId,
    key: k,
    record: r,
  })),
  id.map((deliveryId) => ({ type: 'hint-ack' as const, deliveryId })),
  fc
    .tuple(id, u32, shape, level, fc.array(u32, { maxLength: 20 }))
    .map(([sessionId, partition, s, l, indexes]) => ({
      type: 'aae-hashes-request' as const,
      sessionId,
      partition,
      shape: s,
      level: l,
      indexes,
    })),
  fc
    .tuple(
      id,
      u32,
      level,
      fc.array(fc.record({ index: u32, hash }, { noNullPrototype: true }), { maxLength: 20 }),
    )
    .map(([sessionId, partition, l, hashes]) => ({
      type: 'aae-hashes' as const,
      sessionId,
      partition,
      level: l,
      hashes,
    })),
  fc
    .tuple(id, u32, shape, fc.array(u32, { maxLength: 10 }), fc.array(keyVersion, { maxLength: 8 }))
    .map(([sessionId, partition, s, buckets, entries]) => ({
      type: 'aae-keys' as const,
      sessionId,
      partition,
      shape: s,
      buckets,
      entries,
    })),
  fc
    .tuple(id, u32, fc.array(keyed, { maxLength: 6 }), fc.array(key, { maxLength: 6 }))
    .map(([sessionId, partition, records, wanted]) => ({
      type: 'aae-keys-reply' as const,
      sessionId,
      partition,
      records,
      wanted,
    })),
  fc.tuple(id, u32, fc.array(keyed, { maxLength: 6 })).map(([sessionId, partition, records]) => ({
    type: 'aae-push' as const,
    sessionId,
    partition,
    records,
  })),
  handoffRequest,
  fc
    .tuple(
      id,
      u32,
      fc.array(keyed, { maxLength: 6 }),
      fc.option(key, { nil: undefined }),
      fc.option(fc.constant(true), { nil: undefined }),
    )
    .map(([transferId, partition, entries, cursor, partial]) =>
      compact({ type: 'handoff-batch' as const, transferId, partition, entries, cursor, partial }),
    ),
  u32.map((partition) => ({ type: 'handoff-done' as const, partition })),
)

const ALL_TYPES = Object.keys(REPLICATION_METHOD_OF) as Array<ReplicationMessage['type']>

test('every replication message round-trips through the generic encode/decode pair', () => {
  const seen = new Set<string>()
  fc.assert(
    fc.property(node, message, (from, m) => {
      seen.add(m.type)
      const encoded = encodeReplicationMessage({ from, message: m })
      assert.equal(encoded.methodId, METHOD_IDS[encoded.method])
      assert.equal(encoded.kind, isReplicationRequest(m) ? 'request' : 'response')
      const decoded = decodeReplicationMessage(encoded)
      const expected = { from: encoded.kind === 'request' ? from : undefined, message: m }
      assert.deepEqual(decoded, { ok: true, value: expected })
    }),
    { numRuns: 1000 },
  )
  assert.deepEqual([...seen].sort(), [...ALL_TYPES].sort(), 'every message type was generated')
})

test('a handoff-request keeps its hand-off fence (absent, empty or a list of names) on the wire', () => {
  let fenced = 0
  fc.assert(
    fc.property(node, handoffRequest, (from, m) => {
      if (m.replicas !== undefined) fenced += 1
      const payload = encodeRequest('handoffRequest', { from, message: m })
      assert.deepEqual(decodeRequest('handoffRequest', payload), {
        ok: true,
        value: { from, message: m },
      })
    }),
    { numRuns: 500 },
  )
  assert.ok(fenced > 0, 'fenced requests were generated')
  // The fence is the request's last field: its flag byte is the payload's last byte when absent.
  const message: HandoffRequestMessage = {
    type: 'handoff-request',
    transferId: 5,
    partition: 1,
    limit: 500,
    replicas: ['e', 'd', 'a'],
  }
  const unfenced = encodeRequest('handoffRequest', {
    from: 'd',
    message: { ...message, replicas: undefined },
  })
  assert.equal(unfenced.at(-1), 0)
  const fencedPayload = encodeRequest('handoffRequest', { from: 'd', message })
  assert.deepEqual(decodeRequest('handoffRequest', fencedPayload), {
    ok: true,
    value: { from: 'd', message },
  })
  // A fence flag other than 0 or 1 is malformed, as is a fence list cut short: decode errors.
  const badFlag = unfenced.slice()
  badFlag[badFlag.length - 1] = 2
  assert.equal(decodeRequest('handoffRequest', badFlag).ok, false)
  assert.equal(
    decodeRequest('handoffRequest', fencedPayload.subarray(0, fencedPayload.length - 1)).ok,
    false,
  )
  // A fence that names a node with invalid UTF-8 is malformed too.
  const badName = fencedPayload.slice()
  badName[badName.length - 1] = 0xff
  assert.equal(decodeRequest('handoffRequest', badName).ok, false)
})

test('a batched put of many records round-trips in one payload', () => {
  const statuses = fc.array(
    fc.constantFrom('applied' as const, 'stale' as const, 'condition_failed' as const),
    { maxLength: 50 },
  )
  fc.assert(
    fc.property(node, fc.array(keyed, { maxLength: 50 }), statuses, (from, entries, s) => {
      const request: PutBatchRequest = { from, entries }
      const response: PutBatchResponse = { statuses: s }
      assert.deepEqual(decodeRequest('putBatch', encodeRequest('putBatch', request)), {
        ok: true,
        value: request,
      })
      assert.deepEqual(decodeResponse('putBatch', encodeResponse('putBatch', response)), {
        ok: true,
        value: response,
      })
    }),
    { numRuns: 200 },
  )
})

test('each request type has one method and one reply type, and replies match by id', () => {
  for (const [requestType, replyType] of Object.entries(REPLY_TYPE_OF)) {
    const method = REPLICATION_METHOD_OF[requestType as ReplicationRequest['type']]
    if (replyType !== null) assert.equal(REPLICATION_METHOD_OF[replyType], method)
  }
  const methods = new Set(Object.values(REPLICATION_METHOD_OF))
  assert.equal(methods.size, Object.keys(REPLY_TYPE_OF).length, 'one method per request type')
  const put: ReplicationRequest = {
    type: 'put',
    requestId: 9,
    key: 'k',
    record: { version: { wallMs: 1, logical: 0, nodeId: 'a' }, value: null },
  }
  assert.ok(isReplyTo(put, { type: 'put-reply', requestId: 9, status: 'applied' }))
  assert.ok(!isReplyTo(put, { type: 'put-reply', requestId: 8, status: 'applied' }))
  assert.ok(!isReplyTo(put, { type: 'get-reply', requestId: 9, record: undefined }))
  assert.equal(correlationIdOf({ type: 'handoff-done', partition: 3 }), undefined)
})

test('one-way replies and non-replication methods decode as ok: false', () => {
  const empty = new Uint8Array(0)
  for (const methodId of [METHOD_IDS.aaePush, METHOD_IDS.handoffDone]) {
    assert.equal(decodeReplicationMessage({ methodId, kind: 'response', payload: empty }).ok, false)
  }
  for (const methodId of [0, METHOD_IDS.ping, METHOD_IDS.get, METHOD_IDS.putBatch, 9999]) {
    assert.equal(decodeReplicationMessage({ methodId, kind: 'request', payload: empty }).ok, false)
  }
})

test('a truncated payload of every message is malformed, never a throw', () => {
  fc.assert(
    fc.property(node, message, fc.nat(), (from, m, cut) => {
      const encoded = encodeReplicationMessage({ from, message: m })
      const at = cut % encoded.payload.length // strictly shorter than the payload
      const result = decodeReplicationMessage({
        ...encoded,
        payload: encoded.payload.subarray(0, at),
      })
      assert.equal(result.ok, false)
      const longer = new Uint8Array(encoded.payload.length + 1)
      longer.set(encoded.payload)
      assert.equal(decodeReplicationMessage({ ...encoded, payload: longer }).ok, false)
    }),
    { numRuns: 500 },
  )
})

const replicationMethodIds: number[] = [
  ...[...new Set(Object.values(REPLICATION_METHOD_OF))].map((name) => METHOD_IDS[name]),
  METHOD_IDS.putBatch,
]

test('random bytes and mutated valid payloads never make a replication decoder throw', () => {
  fc.assert(
    fc.property(
      node,
      message,
      fc.uint8Array({ maxLength: 120 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      (from, m, noise, mutations) => {
        const encoded = encodeReplicationMessage({ from, message: m })
        const mutated = encoded.payload.slice()
        for (const [at, value] of mutations) {
          if (mutated.length > 0) mutated[at % mutated.length] = value
        }
        for (const payload of [mutated, noise]) {
          for (const methodId of replicationMethodIds) {
            for (const kind of ['request', 'response'] as const) {
              const result = decodeReplicationMessage({ methodId, kind, payload })
              assert.equal(typeof result.ok, 'boolean')
            }
          }
          decodeRequest('putBatch', payload)
          decodeResponse('putBatch', payload)
        }
      },
    ),
    { numRuns: 400 },
  )
})

test('a hostile element count is refused before anything is allocated', () => {
  // aae-push from "a": sessionId, partition, then a count of 2^32 − 1 records with no bytes.
  const payload = new Uint8Array([
    0,
    1,
    97,
    ...new Array(8).fill(0),
    0,
    0,
    0,
    1,
    255,
    255,
    255,
    255,
  ])
  const result = decodeReplicationMessage({
    methodId: METHOD_IDS.aaePush,
    kind: 'request',
    payload,
  })
  assert.deepEqual(result, { ok: false, reason: 'count exceeds payload' })
})
