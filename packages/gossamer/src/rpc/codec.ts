/**
 * Node-to-node RPC wire format (architecture §7; documented in docs/rpc.md). Pure: no I/O.
 *
 * A frame is `[u32 length][u8 protocolVersion][u8 kind][u32 requestId][u16 method][payload]`,
 * all integers big-endian, where `length` counts the bytes after itself (8 header bytes plus the
 * payload). `kind` is request, response or error. Request ids let many calls share one TCP
 * connection and complete out of order. Method numbers come from `METHOD_IDS` and are
 * append-only: a number, once shipped, keeps its meaning forever.
 *
 * Payloads are a fixed, per-method binary layout written with `PayloadWriter` and read with
 * `PayloadReader` (see docs/rpc.md for each). Every decoder is total: malformed input yields
 * `{ ok: false }` and never throws. `FrameDecoder` reassembles frames from arbitrary TCP chunks
 * and reports oversized or malformed frames as errors, after which the connection must close.
 */

import { putU16, putU32, u16At, u32At } from '../bytes/big-endian.ts'
import { slabBytes, slabCopy } from '../bytes/slab.ts'
import type { Version } from '../hlc/version.ts'
import type { StoredRecord } from '../storage/engine.ts'
import { PayloadReader, PayloadWriter } from './payload.ts'
import {
  type Codec,
  readOptionalString,
  readRecord,
  readVersion,
  writeOptionalString,
  writeRecord,
  writeVersion,
} from './records.ts'
import { REPLICATION_CODECS, type ReplicationRpcMethods } from './replication-codec.ts'

/** RPC protocol version written in every frame. */
export const RPC_PROTOCOL_VERSION = 1

/** Bytes of the length prefix. */
export const FRAME_LENGTH_BYTES = 4

/** Bytes of the header after the length prefix: version, kind, request id, method. */
export const FRAME_HEADER_BYTES = 8

/** Default largest frame (length prefix excluded) a peer may send: 8 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024

/** Frame kinds. Numbers are protocol. */
export const FRAME_KIND = { request: 0, response: 1, error: 2 } as const
/** A frame kind's name. */
export type FrameKind = keyof typeof FRAME_KIND

/** Method numbers. APPEND ONLY: never renumber or reuse a number. */
export const METHOD_IDS = {
  ping: 1,
  get: 2,
  put: 3,
  delete: 4,
  scan: 5,
  // Replication (replication-codec.ts): one method per exchange of src/replication/messages.ts.
  replicaPut: 6,
  replicaGet: 7,
  hintDeliver: 8,
  aaeHashes: 9,
  aaeKeys: 10,
  aaePush: 11,
  handoffRequest: 12,
  handoffDone: 13,
  putBatch: 14,
} as const
/** A method's name. */
export type MethodName = keyof typeof METHOD_IDS

/** Remote error codes carried in error frames. Numbers are protocol; append only. */
export const REMOTE_ERROR_CODES = {
  unknownMethod: 1,
  malformedRequest: 2,
  handlerFailed: 3,
  overloaded: 4,
  shuttingDown: 5,
} as const
/** A remote error code's name. */
export type RemoteErrorCode = keyof typeof REMOTE_ERROR_CODES

/** One decoded frame. `method` is the raw number so unknown methods can be answered. */
export interface Frame {
  readonly protocolVersion: number
  readonly kind: FrameKind
  readonly requestId: number
  readonly method: number
  readonly payload: Uint8Array
}

/** Decoding result: a value or a reason; decoders never throw. */
export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string }

/** Outcome of a replica write, as the coordinator needs it. */
export interface WriteReply {
  readonly status: 'applied' | 'stale' | 'condition_failed'
  /** The replica's current version when the write was not applied (and it has one). */
  readonly current?: Version | undefined
}

/** Request and response shapes of every method. */
export interface RpcMethods extends ReplicationRpcMethods {
  ping: { request: Record<string, never>; response: Record<string, never> }
  get: { request: { key: string }; response: { record: StoredRecord | undefined } }
  put: { request: { key: string; record: StoredRecord }; response: WriteReply }
  delete: { request: { key: string; version: Version }; response: WriteReply }
  scan: {
    request: {
      /** Partition to scan (under the cluster's partition count). */
      partition: number
      /** Resume strictly after this key. */
      after?: string | undefined
      /** Most entries in the reply (>= 1). */
      limit: number
    }
    response: {
      entries: Array<{ key: string; record: StoredRecord }>
      /** Present when more entries may follow. */
      cursor?: string | undefined
    }
  }
}
/** The request type of a method. */
export type RequestOf<M extends MethodName> = RpcMethods[M]['request']
/** The response type of a method. */
export type ResponseOf<M extends MethodName> = RpcMethods[M]['response']

const KIND_BY_NUMBER: readonly FrameKind[] = ['request', 'response', 'error']
const METHOD_BY_ID = new Map<number, MethodName>(
  Object.entries(METHOD_IDS).map(([name, id]) => [id, name as MethodName]),
)

/** The method name of a method number, or undefined if this version does not know it. */
export function methodName(id: number): MethodName | undefined {
  return METHOD_BY_ID.get(id)
}

/** Encodes one frame, length prefix included. Throws RangeError on out-of-range header fields. */
export function encodeFrame(
  frame: Omit<Frame, 'protocolVersion'> & { protocolVersion?: number },
): Uint8Array {
  const { requestId, method, payload } = frame
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) {
    throw new RangeError('requestId must be a u32')
  }
  if (!Number.isInteger(method) || method < 0 || method > 0xffff)
    throw new RangeError('method must be a u16')
  // A view into a shared slab (bytes/slab.ts): no ArrayBuffer of its own per frame.
  const out = slabBytes(FRAME_LENGTH_BYTES + FRAME_HEADER_BYTES + payload.length)
  putU32(out, 0, FRAME_HEADER_BYTES + payload.length)
  out[4] = frame.protocolVersion ?? RPC_PROTOCOL_VERSION
  out[5] = FRAME_KIND[frame.kind]
  putU32(out, 6, requestId)
  putU16(out, 10, method)
  out.set(payload, FRAME_LENGTH_BYTES + FRAME_HEADER_BYTES)
  return out
}

/** One step of the incremental decoder. */
export type FrameDecodeStep =
  | { readonly type: 'frame'; readonly frame: Frame }
  | { readonly type: 'need-more' }
  | { readonly type: 'error'; readonly reason: 'oversized' | 'too-short' | 'version' | 'kind' }

/**
 * Reassembles frames from a byte stream. `push` chunks as they arrive, then call `next` until it
 * answers `need-more`. After an `error` the stream is unusable (framing is lost): the decoder
 * keeps answering that error and the caller must close the connection.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number
  #buffer = new Uint8Array(0)
  #start = 0
  #end = 0
  #error: FrameDecodeStep | undefined

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.#end - this.#start
  }

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (this.#error !== undefined || chunk.length === 0) return
    if (this.#end + chunk.length > this.#buffer.length) this.#grow(chunk.length)
    this.#buffer.set(chunk, this.#end)
    this.#end += chunk.length
  }

  #grow(extra: number): void {
    const live = this.#end - this.#start
    const size = Math.max(live + extra, Math.min(this.#buffer.length * 2, live + extra + 65536))
    const next = new Uint8Array(size)
    next.set(this.#buffer.subarray(this.#start, this.#end))
    this.#buffer = next
    this.#start = 0
    this.#end = live
  }

  /** The next complete frame, `need-more`, or a sticky error. */
  next(): FrameDecodeStep {
    if (this.#error !== undefined) return this.#error
    const available = this.#end - this.#start
    if (available < FRAME_LENGTH_BYTES) return { type: 'need-more' }
    const b = this.#buffer
    const start = this.#start
    const length = u32At(b, start)
    if (length > this.maxFrameBytes) return this.#fail('oversized')
    if (length < FRAME_HEADER_BYTES) return this.#fail('too-short')
    if (available >= 5 && this.#buffer[this.#start + 4] !== RPC_PROTOCOL_VERSION)
      return this.#fail('version')
    if (available >= 6 && KIND_BY_NUMBER[this.#buffer[this.#start + 5]!] === undefined)
      return this.#fail('kind')
    if (available < FRAME_LENGTH_BYTES + length) return { type: 'need-more' }
    const frame: Frame = {
      protocolVersion: this.#buffer[this.#start + 4]!,
      kind: KIND_BY_NUMBER[this.#buffer[this.#start + 5]!]!,
      requestId: u32At(b, start + 6),
      method: u16At(b, start + 10),
      // Copy, so the frame outlives buffer reuse (into a shared slab: bytes/slab.ts).
      payload: slabCopy(b.subarray(start + 12, start + FRAME_LENGTH_BYTES + length)),
    }
    this.#start += FRAME_LENGTH_BYTES + length
    if (this.#start === this.#end) {
      this.#start = 0
      this.#end = 0
    }
    return { type: 'frame', frame }
  }

  #fail(reason: 'oversized' | 'too-short' | 'version' | 'kind'): FrameDecodeStep {
    this.#error = { type: 'error', reason }
    this.#buffer = new Uint8Array(0)
    this.#start = 0
    this.#end = 0
    return this.#error
  }
}

// ---------------------------------------------------------------------------------------------
// Payloads

const WRITE_STATUS = ['applied', 'stale', 'condition_failed'] as const

function writeWriteReply(w: PayloadWriter, reply: WriteReply): void {
  w.u8(WRITE_STATUS.indexOf(reply.status))
  w.u8(reply.current !== undefined ? 1 : 0)
  if (reply.current !== undefined) writeVersion(w, reply.current)
}

function readWriteReply(r: PayloadReader): WriteReply {
  const status = WRITE_STATUS[r.u8()] ?? r.fail('write status')
  const current = r.flag() ? readVersion(r) : undefined
  return current === undefined ? { status } : { status, current }
}

type MethodCodecs = {
  [M in MethodName]: { request: Codec<RequestOf<M>>; response: Codec<ResponseOf<M>> }
}

const empty: Codec<Record<string, never>> = { write() {}, read: () => ({}) }
const writeReply: Codec<WriteReply> = { write: writeWriteReply, read: readWriteReply }

const CODECS: MethodCodecs = {
  ping: { request: empty, response: empty },
  get: {
    request: { write: (w, q) => w.string(q.key), read: (r) => ({ key: r.string() }) },
    response: {
      write: (w, s) => {
        w.u8(s.record !== undefined ? 1 : 0)
        if (s.record !== undefined) writeRecord(w, s.record)
      },
      read: (r) => ({ record: r.flag() ? readRecord(r) : undefined }),
    },
  },
  put: {
    request: {
      write: (w, q) => {
        w.string(q.key)
        writeRecord(w, q.record)
      },
      read: (r) => ({ key: r.string(), record: readRecord(r) }),
    },
    response: writeReply,
  },
  delete: {
    request: {
      write: (w, q) => {
        w.string(q.key)
        writeVersion(w, q.version)
      },
      read: (r) => ({ key: r.string(), version: readVersion(r) }),
    },
    response: writeReply,
  },
  scan: {
    request: {
      write: (w, q) => {
        w.u32(q.partition)
        writeOptionalString(w, q.after)
        w.u32(q.limit)
      },
      read: (r) => {
        const partition = r.u32()
        const after = readOptionalString(r)
        const limit = r.u32()
        return after === undefined ? { partition, limit } : { partition, after, limit }
      },
    },
    response: {
      write: (w, s) => {
        w.u32(s.entries.length)
        for (const e of s.entries) {
          w.string(e.key)
          writeRecord(w, e.record)
        }
        writeOptionalString(w, s.cursor)
      },
      read: (r) => {
        const count = r.count(2 + 8 + 4 + 2 + 1) // key, wallMs, logical, nodeId, flags
        const entries = Array.from({ length: count }, () => ({
          key: r.string(),
          record: readRecord(r),
        }))
        const cursor = readOptionalString(r)
        return cursor === undefined ? { entries } : { entries, cursor }
      },
    },
  },
  ...REPLICATION_CODECS,
}

function encodeWith<T>(codec: Codec<T>, value: T): Uint8Array {
  const w = new PayloadWriter()
  codec.write(w, value)
  return w.finish()
}

function decodeWith<T>(codec: Codec<T>, payload: Uint8Array): DecodeResult<T> {
  const r = new PayloadReader(payload)
  const result = r.run(() => codec.read(r))
  if (result.ok && !r.atEnd()) return { ok: false, reason: 'trailing bytes' }
  return result
}

/** Encodes a request payload of `method`. */
export function encodeRequest<M extends MethodName>(method: M, request: RequestOf<M>): Uint8Array {
  return encodeWith(CODECS[method].request as Codec<RequestOf<M>>, request)
}

/** Decodes a request payload of `method`. Never throws. */
export function decodeRequest<M extends MethodName>(
  method: M,
  payload: Uint8Array,
): DecodeResult<RequestOf<M>> {
  return decodeWith(CODECS[method].request as Codec<RequestOf<M>>, payload)
}

/** Encodes a response payload of `method`. */
export function encodeResponse<M extends MethodName>(
  method: M,
  response: ResponseOf<M>,
): Uint8Array {
  return encodeWith(CODECS[method].response as Codec<ResponseOf<M>>, response)
}

/** Decodes a response payload of `method`. Never throws. */
export function decodeResponse<M extends MethodName>(
  method: M,
  payload: Uint8Array,
): DecodeResult<ResponseOf<M>> {
  return decodeWith(CODECS[method].response as Codec<ResponseOf<M>>, payload)
}

/** The payload of an error frame. */
export interface RemoteError {
  /** Known code name, or `'unknown'` for a number this version does not know. */
  readonly code: RemoteErrorCode | 'unknown'
  readonly message: string
}

/** Encodes an error frame payload: `[u16 code][string message]`. */
export function encodeRemoteError(error: { code: RemoteErrorCode; message: string }): Uint8Array {
  const w = new PayloadWriter()
  w.u16(REMOTE_ERROR_CODES[error.code])
  w.string(error.message.slice(0, 1024))
  return w.finish()
}

const ERROR_BY_NUMBER = new Map<number, RemoteErrorCode>(
  Object.entries(REMOTE_ERROR_CODES).map(([name, id]) => [id, name as RemoteErrorCode]),
)

/** Decodes an error frame payload. Never throws. */
export function decodeRemoteError(payload: Uint8Array): DecodeResult<RemoteError> {
  return decodeWith(
    {
      write() {},
      read: (r) => ({ code: ERROR_BY_NUMBER.get(r.u16()) ?? 'unknown', message: r.string() }),
    },
    payload,
  )
}
