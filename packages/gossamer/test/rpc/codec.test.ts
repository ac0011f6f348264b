// Goal: every RPC message round-trips through frames and payloads; the incremental decoder finds
// the same frames however TCP splits the stream; and no input — random bytes, mutated frames,
// oversized lengths — makes a decoder throw. Method: fast-check properties.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { Version } from '../../src/hlc/version.ts'
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeRemoteError,
  decodeRequest,
  decodeResponse,
  encodeFrame,
  encodeRemoteError,
  encodeRequest,
  encodeResponse,
  type Frame,
  FrameDecoder,
  METHOD_IDS,
  type MethodName,
  methodName,
} from '../../src/rpc/codec.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const version: fc.Arbitrary<Version> = fc.record(
  {
    wallMs: fc.maxSafeNat(),
    logical: fc.integer({ min: 0, max: 0xffffffff }),
    nodeId: fc.string({ maxLength: 20 }),
  },
  { noNullPrototype: true },
)
const record: fc.Arbitrary<StoredRecord> = fc
  .tuple(
    version,
    fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
    fc.option(fc.maxSafeNat(), { nil: undefined }),
    fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
  )
  .map(([v, value, expiresAtMs, contentType]) => {
    const r: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = { version: v, value }
    if (expiresAtMs !== undefined) r.expiresAtMs = expiresAtMs
    if (contentType !== undefined) r.contentType = contentType
    return r
  })
const key = fc.string({ maxLength: 40, unit: 'grapheme' })
const writeReply = fc.oneof(
  fc.record({ status: fc.constantFrom('applied' as const) }, { noNullPrototype: true }),
  fc.record(
    { status: fc.constantFrom('stale' as const, 'condition_failed' as const), current: version },
    { noNullPrototype: true },
  ),
)
const optionalString = fc.option(fc.string({ maxLength: 10 }), { nil: undefined })

type Message = { method: MethodName; request: unknown; response: unknown }
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constant<Message>({ method: 'ping', request: {}, response: {} }),
  fc
    .tuple(key, fc.option(record, { nil: undefined }))
    .map(([k, r]) => ({ method: 'get' as const, request: { key: k }, response: { record: r } })),
  fc
    .tuple(key, record, writeReply)
    .map(([k, r, w]) => ({ method: 'put' as const, request: { key: k, record: r }, response: w })),
  fc.tuple(key, version, writeReply).map(([k, v, w]) => ({
    method: 'delete' as const,
    request: { key: k, version: v },
    response: w,
  })),
  fc
    .tuple(
      fc.nat(),
      optionalString,
      fc.integer({ min: 1, max: 1000 }),
      fc.array(fc.record({ key, record }, { noNullPrototype: true }), { maxLength: 5 }),
      optionalString,
    )
    .map(([partition, after, limit, entries, cursor]) => ({
      method: 'scan' as const,
      request: after === undefined ? { partition, limit } : { partition, after, limit },
      response: cursor === undefined ? { entries } : { entries, cursor },
    })),
)

test('every request and response round-trips through its payload codec', () => {
  fc.assert(
    fc.property(message, ({ method, request, response }) => {
      const q = decodeRequest(method, encodeRequest(method, request as never))
      assert.deepEqual(q, { ok: true, value: request })
      const s = decodeResponse(method, encodeResponse(method, response as never))
      assert.deepEqual(s, { ok: true, value: response })
    }),
    { numRuns: 400 },
  )
})

const frame: fc.Arbitrary<Frame> = fc.record(
  {
    protocolVersion: fc.constant(1),
    kind: fc.constantFrom('request' as const, 'response' as const, 'error' as const),
    requestId: fc.integer({ min: 0, max: 0xffffffff }),
    method: fc.integer({ min: 0, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  },
  { noNullPrototype: true },
)

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let from = 0
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p))
    from = p
  }
  return chunks
}

function drain(decoder: FrameDecoder): Frame[] {
  const out: Frame[] = []
  for (let i = 0; i < 10_000; i++) {
    const step = decoder.next()
    if (step.type !== 'frame') return out
    out.push(step.frame)
  }
  return out
}

test('the frame decoder returns the same frames however the stream is chunked', () => {
  fc.assert(
    fc.property(
      fc.array(frame, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (frames, cuts) => {
        const stream = Uint8Array.from(frames.flatMap((f) => [...encodeFrame(f)]))
        const decoder = new FrameDecoder()
        const got: Frame[] = []
        for (const chunk of splitAt(stream, cuts)) {
          decoder.push(chunk)
          got.push(...drain(decoder))
        }
        assert.deepEqual(got, frames)
        assert.equal(decoder.bufferedBytes, 0)
        assert.deepEqual(decoder.next(), { type: 'need-more' })
      },
    ),
    { numRuns: 300 },
  )
})

test('oversized, too-short and wrong-version frames are errors, and the error sticks', () => {
  const oversized = new FrameDecoder({ maxFrameBytes: 100 })
  oversized.push(new Uint8Array([0, 0, 0, 101]))
  assert.deepEqual(oversized.next(), { type: 'error', reason: 'oversized' })
  oversized.push(
    encodeFrame({ kind: 'request', requestId: 1, method: 1, payload: new Uint8Array() }),
  )
  assert.equal(oversized.next().type, 'error')
  const short = new FrameDecoder()
  short.push(new Uint8Array([0, 0, 0, 3, 1, 0, 0]))
  assert.deepEqual(short.next(), { type: 'error', reason: 'too-short' })
  const wrong = new FrameDecoder()
  wrong.push(new Uint8Array([0, 0, 0, 8, 9]))
  assert.deepEqual(wrong.next(), { type: 'error', reason: 'version' })
  const huge = new FrameDecoder()
  huge.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))
  assert.deepEqual(huge.next(), { type: 'error', reason: 'oversized' })
  assert.equal(DEFAULT_MAX_FRAME_BYTES, 8 * 1024 * 1024)
})

test('random bytes and mutated valid frames never make any decoder throw', () => {
  fc.assert(
    fc.property(
      message,
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(),
      ({ method, request, response }, noise, mutations, cut) => {
        const payloads = [
          encodeRequest(method, request as never),
          encodeResponse(method, response as never),
        ]
        for (const payload of [...payloads, noise]) {
          const bytes = encodeFrame({
            kind: 'request',
            requestId: 7,
            method: METHOD_IDS[method],
            payload,
          })
          for (const [at, value] of mutations) bytes[at % bytes.length] = value
          const decoder = new FrameDecoder({ maxFrameBytes: 4096 })
          decoder.push(bytes.subarray(0, cut % (bytes.length + 1)))
          decoder.push(bytes.subarray(cut % (bytes.length + 1)))
          decoder.push(noise)
          for (const f of drain(decoder)) {
            const name = methodName(f.method)
            if (name === undefined) continue
            decodeRequest(name, f.payload)
            decodeResponse(name, f.payload)
            decodeRemoteError(f.payload)
          }
          for (const name of Object.keys(METHOD_IDS) as MethodName[]) {
            decodeRequest(name, payload.subarray(0, cut % (payload.length + 1)))
            decodeResponse(name, noise)
          }
        }
      },
    ),
    { numRuns: 400 },
  )
})

test('error payloads round-trip and unknown codes decode as unknown', () => {
  const bytes = encodeRemoteError({ code: 'overloaded', message: 'busy' })
  assert.deepEqual(decodeRemoteError(bytes), {
    ok: true,
    value: { code: 'overloaded', message: 'busy' },
  })
  bytes[1] = 99
  assert.deepEqual(decodeRemoteError(bytes), {
    ok: true,
    value: { code: 'unknown', message: 'busy' },
  })
  assert.equal(decodeRemoteError(new Uint8Array([0])).ok, false)
})

test('method numbers are append-only and never change', () => {
  assert.deepEqual(METHOD_IDS, {
    ping: 1,
    get: 2,
    put: 3,
    delete: 4,
    scan: 5,
    replicaPut: 6,
    replicaGet: 7,
    hintDeliver: 8,
    aaeHashes: 9,
    aaeKeys: 10,
    aaePush: 11,
    handoffRequest: 12,
    handoffDone: 13,
    putBatch: 14,
  })
})
