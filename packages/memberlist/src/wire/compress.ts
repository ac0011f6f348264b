/**
 * Compressed messages, type 9 (shared/reference/memberlist-wire-protocol.md §4.3):
 * `[9]` + msgpack `compress{Algo: 0, Buf: <LZW bytes>}`. `Buf` decompresses to a complete
 * message `[type][body]`. Algo 0 (LZW) is the only algorithm. Following HEAD, output larger than
 * the limit (40 MiB by default) or empty output is refused.
 */

import { decodeStructAt } from './codec.ts'
import { type WireFailure, wireFailure } from './failure.ts'
import { lzwCompress, lzwDecompress } from './lzw.ts'
import { MessageType } from './messages.ts'
import { MsgpackWriter } from './msgpack.ts'

/** The only compression algorithm: LZW. */
export const lzwAlgo = 0

/** Wraps a complete message as `[9]{Algo: 0, Buf: lzw(message)}`. */
export function compressMessage(message: Uint8Array): Uint8Array {
  return new MsgpackWriter()
    .rawByte(MessageType.compress)
    .mapHeader(2)
    .string('Algo')
    .uint(lzwAlgo)
    .string('Buf')
    .str(lzwCompress(message))
    .finish()
}

/** A decoded compress struct: the LZW bytes and how many frame bytes the struct used. */
export type CompressStructRead =
  | { readonly status: 'ok'; readonly buf: Uint8Array; readonly bytesRead: number }
  | { readonly status: 'needMore' }
  | { readonly status: 'error'; readonly failure: WireFailure }

/**
 * Reads the msgpack `compress` struct of a type-9 frame (`buf` starts with the 9); `needMore`
 * if the buffer ends inside it (streams). `bytesRead` counts from the type byte.
 */
export function readCompressStruct(buf: Uint8Array, maxBytes?: number): CompressStructRead {
  const s = decodeStructAt(buf, 1, maxBytes)
  if (s.status !== 'ok') return s
  const algo = s.fields.get('Algo') ?? 0
  if (algo !== lzwAlgo) {
    return {
      status: 'error',
      failure: wireFailure('unknown-compression', `cannot decompress unknown algorithm ${algo}`),
    }
  }
  const data = s.fields.get('Buf') ?? null
  if (data !== null && !(data instanceof Uint8Array)) {
    return { status: 'error', failure: wireFailure('bad-field', 'Buf: expected bytes') }
  }
  return { status: 'ok', buf: data ?? new Uint8Array(0), bytesRead: 1 + s.bytesRead }
}

/** Decompresses the LZW bytes of a compress struct into a message; never empty. */
export function inflate(
  lzw: Uint8Array,
  maxOutputBytes: number,
): { readonly ok: true; readonly message: Uint8Array } | WireFailure {
  const r = lzwDecompress(lzw, maxOutputBytes)
  if (!r.ok) return wireFailure('decompress-failed', r.detail)
  if (r.output.length === 0)
    return wireFailure('decompress-failed', 'decompressed message is empty')
  return { ok: true, message: r.output }
}

/** Decodes a complete type-9 message into the message it carries. Never throws. */
export function decompressMessage(
  buf: Uint8Array,
  maxOutputBytes: number,
): { readonly ok: true; readonly message: Uint8Array } | WireFailure {
  const s = readCompressStruct(buf)
  if (s.status === 'needMore') return wireFailure('truncated', 'compress message truncated')
  if (s.status === 'error') return s.failure
  return inflate(s.buf, maxOutputBytes)
}
