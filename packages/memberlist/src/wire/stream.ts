/**
 * TCP stream frames (shared/reference/memberlist-wire-protocol.md §1.5, §1.8, §4.4, §4.5). A
 * connection carries one frame each way. The dialer writes the label header once, before its
 * frame; the reply never carries one. A frame is plain `[type][body]`, compressed
 * `[9]{Algo, Buf}` (always, when compression is on), or encrypted `[10][L u32 BE][payload]` with
 * additional data `[10][L]‖label`, encryption applied after compression.
 *
 * There is no length prefix on plain frames: a reader must parse the body incrementally and stop
 * once the message type's content is complete, and it must not wait for EOF because a Go dialer
 * keeps the socket open until it gets the reply. `StreamDecoder` is fed chunks as they arrive
 * and returns the frame as soon as it is complete. It enforces HEAD's limits (§1.4) and a bound
 * on buffered bytes, and it never throws.
 */

import { decodeStreamMessage, encodeStreamMessage, StreamBodyParser } from './codec.ts'
import { compressMessage, inflate, readCompressStruct } from './compress.ts'
import {
  decryptPayload,
  type EncryptionVersion,
  encryptedLength,
  encryptPayload,
  type RandomBytes,
} from './crypto.ts'
import { type WireFailure, type WireFailureReason, wireFailure } from './failure.ts'
import type { Keyring } from './keyring.ts'
import { addLabelHeader, checkInboundLabel, labelBytes, readLabelHeader } from './label.ts'
import { defaultWireLimits, type WireLimits } from './limits.ts'
import { MessageType, type StreamMessage } from './messages.ts'

/** How to write a stream frame. */
export interface StreamEncodeOptions {
  /** Compress the frame (Go compresses streams whenever `EnableCompression` is on). */
  readonly compress: boolean
  /**
   * The stream's label: ours on a connection we dialed, and also ours when replying (an
   * accepted stream's label must equal ours). Used as additional data when encrypting.
   */
  readonly label: string
  /** Prefix the label header: true only for the dialer's frame. */
  readonly writeLabelHeader: boolean
  readonly keyring?: Keyring | undefined
  /** Go: `GossipVerifyOutgoing`. */
  readonly verifyOutgoing: boolean
  readonly randomBytes: RandomBytes
  /** @default 1 */
  readonly encryptionVersion?: EncryptionVersion | undefined
}

/** Encodes one frame (a message or an already encoded plain frame) ready to write. */
export function encodeStreamFrame(
  message: StreamMessage | Uint8Array,
  opts: StreamEncodeOptions,
): Uint8Array {
  let frame = message instanceof Uint8Array ? message : encodeStreamMessage(message)
  if (opts.compress) frame = compressMessage(frame)
  const key = opts.keyring?.primaryKey()
  if (key !== undefined && opts.verifyOutgoing) frame = encryptFrame(frame, key, opts)
  return opts.writeLabelHeader ? addLabelHeader(frame, opts.label) : frame
}

function encryptFrame(frame: Uint8Array, key: Uint8Array, opts: StreamEncodeOptions): Uint8Array {
  const version = opts.encryptionVersion ?? 1
  const header = new Uint8Array(5)
  header[0] = MessageType.encrypt
  new DataView(header.buffer).setUint32(1, encryptedLength(version, frame.length))
  const payload = encryptPayload({
    key,
    plaintext: frame,
    aad: concat(header, labelBytes(opts.label)),
    randomBytes: opts.randomBytes,
    version,
  })
  return concat(header, payload)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** How to read a stream. */
export interface StreamDecodeOptions {
  /** True on the accepting side: the dialer may have written a label header first. */
  readonly readLabelHeader: boolean
  /** Our label ('' for none). */
  readonly label: string
  readonly skipInboundLabelCheck: boolean
  readonly keyring?: Keyring | undefined
  /** Go: `GossipVerifyIncoming`. False accepts an unencrypted stream despite a keyring. */
  readonly verifyIncoming: boolean
  readonly limits?: Partial<WireLimits> | undefined
}

/** What one `feed` produced. `error` and `done` are sticky. */
export type StreamFeedResult =
  | { readonly status: 'needMore' }
  | {
      readonly status: 'frame'
      readonly message: StreamMessage
      readonly encrypted: boolean
      readonly compressed: boolean
      /** Bytes fed after the end of the frame (ignored, as Go ignores them). */
      readonly trailingBytes: number
    }
  | { readonly status: 'error'; readonly reason: WireFailureReason; readonly detail: string }
  | { readonly status: 'done' }

type Phase = 'label' | 'frame' | 'finished'

/** Incremental decoder for the one frame a peer sends on a connection. */
export class StreamDecoder {
  private readonly opts: StreamDecodeOptions
  private readonly limits: WireLimits
  private buf = new Uint8Array(1024)
  private length = 0
  private frameStart = 0
  private phase: Phase
  private readonly body: StreamBodyParser
  private terminal: StreamFeedResult | undefined

  constructor(opts: StreamDecodeOptions) {
    this.opts = opts
    this.limits = { ...defaultWireLimits, ...opts.limits }
    this.phase = opts.readLabelHeader ? 'label' : 'frame'
    this.body = new StreamBodyParser(this.limits)
  }

  /** Adds received bytes and returns the frame once it is complete. Never throws. */
  feed(chunk: Uint8Array): StreamFeedResult {
    if (this.terminal !== undefined) {
      return this.terminal.status === 'frame' ? { status: 'done' } : this.terminal
    }
    this.append(chunk)
    let result: StreamFeedResult
    try {
      result = this.advance()
    } catch (err) {
      result = { status: 'error', reason: 'bad-field', detail: String(err) }
    }
    if (result.status !== 'needMore') {
      this.terminal = result
      this.phase = 'finished'
      this.buf = new Uint8Array(0)
    }
    return result
  }

  private append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buf.length) {
      let size = Math.max(this.buf.length * 2, 1024)
      while (size < this.length + chunk.length) size *= 2
      const next = new Uint8Array(size)
      next.set(this.buf.subarray(0, this.length))
      this.buf = next
    }
    this.buf.set(chunk, this.length)
    this.length += chunk.length
  }

  private advance(): StreamFeedResult {
    if (this.phase === 'label') {
      const r = readLabelHeader(this.buf.subarray(0, this.length))
      if (r.status === 'needMore') return { status: 'needMore' }
      if (r.status === 'error') return failed(r.failure)
      const checked = checkInboundLabel(r.label, this.opts)
      if (!checked.ok) return failed(checked)
      this.frameStart = r.bytesRead
      this.phase = 'frame'
    }
    const frame = this.buf.subarray(this.frameStart, this.length)
    if (frame.length === 0) return { status: 'needMore' }
    const type = frame[0]!
    const encryptionOn = this.opts.keyring?.enabled === true
    if (type === MessageType.encrypt) {
      if (!encryptionOn) {
        return failed(
          wireFailure(
            'encryption-not-configured',
            'remote state is encrypted and encryption is not configured',
          ),
        )
      }
      return this.encrypted(frame)
    }
    if (encryptionOn && this.opts.verifyIncoming) {
      return failed(
        wireFailure(
          'encryption-required',
          'encryption is configured but remote state is not encrypted',
        ),
      )
    }
    if (frame.length > this.limits.maxPlainFrameBytes) {
      return failed(wireFailure('too-large', 'plain stream frame exceeds limit'))
    }
    if (type === MessageType.compress) return this.compressed(frame)
    const step = this.body.step(frame)
    if (step.status === 'needMore') return step
    if (step.status === 'error') return failed(step.failure)
    return this.done(step.message, frame.length - step.bytesRead, false, false)
  }

  private encrypted(frame: Uint8Array): StreamFeedResult {
    if (frame.length < 5) return { status: 'needMore' }
    const size = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1)
    if (size > this.limits.maxEncryptedBytes) {
      return failed(wireFailure('too-large', `remote state is larger than limit (${size})`))
    }
    if (frame.length < 5 + size) return { status: 'needMore' }
    const aad = concat(frame.subarray(0, 5), labelBytes(this.opts.label))
    const keys = this.opts.keyring?.keys() ?? []
    const plain = decryptPayload(keys, frame.subarray(5, 5 + size), aad)
    if (!plain.ok) return failed(plain)
    const inner = this.decodeComplete(plain.plaintext)
    if (inner.status !== 'frame') return inner
    return { ...inner, encrypted: true, trailingBytes: frame.length - 5 - size }
  }

  private compressed(frame: Uint8Array): StreamFeedResult {
    const s = readCompressStruct(frame, this.limits.maxPlainFrameBytes)
    if (s.status === 'needMore') return s
    if (s.status === 'error') return failed(s.failure)
    const inner = this.inflated(s.buf)
    if (inner.status !== 'frame') return inner
    return { ...inner, trailingBytes: frame.length - s.bytesRead }
  }

  /** A complete frame from a decrypted payload: compressed or plain. */
  private decodeComplete(frame: Uint8Array): StreamFeedResult {
    if (frame.length === 0) return failed(wireFailure('empty', 'decrypted frame is empty'))
    if (frame[0] === MessageType.compress) {
      const s = readCompressStruct(frame)
      if (s.status === 'needMore')
        return failed(wireFailure('truncated', 'compress message truncated'))
      if (s.status === 'error') return failed(s.failure)
      return this.inflated(s.buf)
    }
    const m = decodeStreamMessage(frame, this.limits)
    if (!m.ok) return failed(m)
    return this.done(m.message, 0, false, false)
  }

  private inflated(lzw: Uint8Array): StreamFeedResult {
    const r = inflate(lzw, this.limits.maxDecompressedBytes)
    if (!r.ok) return failed(r)
    const m = decodeStreamMessage(r.message, this.limits)
    if (!m.ok) return failed(m)
    return this.done(m.message, 0, false, true)
  }

  private done(
    message: StreamMessage,
    trailingBytes: number,
    encrypted: boolean,
    compressed: boolean,
  ): StreamFeedResult {
    return { status: 'frame', message, encrypted, compressed, trailingBytes }
  }
}

function failed(f: WireFailure): StreamFeedResult {
  return { status: 'error', reason: f.reason, detail: f.detail }
}
