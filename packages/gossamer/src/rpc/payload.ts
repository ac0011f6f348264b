/**
 * Primitive payload encoding for RPC messages (docs/rpc.md "Payload primitives"): big-endian
 * fixed-width integers, `u64` limited to JavaScript safe integers, strings as `[u16 byteLength]
 * [UTF-8]`, byte strings as `[u32 byteLength][bytes]`, flags as one byte 0 or 1. The reader is
 * total from the outside: `run` turns any malformation into `{ ok: false }`.
 */

import { putU16, putU32, u16At, u32At } from '../bytes/big-endian.ts'
import { asciiText, isAscii, slabCopy } from '../bytes/slab.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Grows as needed; `finish` returns exactly the written bytes (a view into a shared slab) and
 * ends the writer. Writers borrow one spare 4 KiB scratch buffer, handed back by `finish`, so
 * encoding a message allocates no `ArrayBuffer` of its own (docs/performance.md).
 */
export class PayloadWriter {
  #buffer: Uint8Array
  #at = 0

  constructor() {
    if (spare !== undefined) {
      this.#buffer = spare
      spare = undefined
    } else {
      this.#buffer = new Uint8Array(256)
    }
  }

  #reserve(extra: number): number {
    if (this.#at + extra > this.#buffer.length) {
      const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.#at + extra))
      next.set(this.#buffer.subarray(0, this.#at))
      this.#buffer = next
    }
    const at = this.#at
    this.#at += extra
    return at
  }

  u8(value: number): void {
    const at = this.#reserve(1)
    this.#buffer[at] = value
  }

  u16(value: number): void {
    const at = this.#reserve(2) // first: it may replace the buffer
    putU16(this.#buffer, at, value)
  }

  u32(value: number): void {
    const at = this.#reserve(4)
    putU32(this.#buffer, at, value)
  }

  /** A non-negative safe integer as 8 bytes. Throws RangeError otherwise (a local bug). */
  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError('u64 must be a safe integer >= 0')
    const at = this.#reserve(8)
    putU32(this.#buffer, at, Math.floor(value / 2 ** 32))
    putU32(this.#buffer, at + 4, value % 2 ** 32)
  }

  /** UTF-8 string of at most 65535 bytes (RangeError otherwise). */
  string(text: string): void {
    if (text.length <= 0xffff && isAscii(text)) {
      // ASCII (nearly every key and node id): its UTF-8 bytes are its char codes.
      this.u16(text.length)
      const at = this.#reserve(text.length)
      const b = this.#buffer
      for (let i = 0; i < text.length; i++) b[at + i] = text.charCodeAt(i)
      return
    }
    const bytes = encoder.encode(text)
    if (bytes.length > 0xffff) throw new RangeError('string over 65535 bytes')
    this.u16(bytes.length)
    const at = this.#reserve(bytes.length)
    this.#buffer.set(bytes, at)
  }

  /** A byte string of any length up to 2^32 − 1. */
  bytes(value: Uint8Array): void {
    this.u32(value.length)
    const at = this.#reserve(value.length)
    this.#buffer.set(value, at)
  }

  /** The written bytes. The writer is empty afterwards (and may be used again). */
  finish(): Uint8Array {
    const out = slabCopy(this.#buffer.subarray(0, this.#at))
    if (this.#buffer.length <= SPARE_BYTES_MAX) spare = this.#buffer
    this.#buffer = EMPTY
    this.#at = 0
    return out
  }
}

// The scratch buffer writers borrow (one: writers run to `finish` without interleaving, and one
// that does interleave just allocates its own).
const SPARE_BYTES_MAX = 64 * 1024
let spare: Uint8Array | undefined = new Uint8Array(4096)
const EMPTY = new Uint8Array(0)

class MalformedPayload extends Error {}

/** Reads what `PayloadWriter` wrote; any misread aborts `run` with `{ ok: false }`. */
export class PayloadReader {
  readonly #bytes: Uint8Array
  #at = 0

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  /** Runs a decode; a malformed payload becomes `{ ok: false }`. Other errors are bugs and propagate. */
  run<T>(read: () => T): { ok: true; value: T } | { ok: false; reason: string } {
    try {
      return { ok: true, value: read() }
    } catch (error) {
      if (error instanceof MalformedPayload) return { ok: false, reason: error.message }
      throw error
    }
  }

  /** Aborts the decode. */
  fail(reason: string): never {
    throw new MalformedPayload(reason)
  }

  atEnd(): boolean {
    return this.#at === this.#bytes.length
  }

  #take(count: number): number {
    if (this.#at + count > this.#bytes.length) this.fail('truncated')
    const at = this.#at
    this.#at += count
    return at
  }

  u8(): number {
    return this.#bytes[this.#take(1)]!
  }

  u16(): number {
    return u16At(this.#bytes, this.#take(2))
  }

  u32(): number {
    return u32At(this.#bytes, this.#take(4))
  }

  u64(): number {
    const at = this.#take(8)
    const value = u32At(this.#bytes, at) * 2 ** 32 + u32At(this.#bytes, at + 4)
    if (!Number.isSafeInteger(value)) this.fail('u64 beyond safe integer')
    return value
  }

  /** A 0/1 byte. */
  flag(): boolean {
    const value = this.u8()
    if (value > 1) this.fail('flag')
    return value === 1
  }

  string(): string {
    const length = this.u16()
    const at = this.#take(length)
    const ascii = asciiText(this.#bytes, at, at + length)
    if (ascii !== undefined) return ascii
    try {
      return decoder.decode(this.#bytes.subarray(at, at + length))
    } catch {
      return this.fail('invalid UTF-8')
    }
  }

  bytes(): Uint8Array {
    const length = this.u32()
    const at = this.#take(length)
    return slabCopy(this.#bytes.subarray(at, at + length))
  }

  /** A u32 item count, refused if the remaining bytes cannot hold that many items. */
  count(minItemBytes: number): number {
    const value = this.u32()
    if (value * minItemBytes > this.#bytes.length - this.#at) this.fail('count exceeds payload')
    return value
  }
}
