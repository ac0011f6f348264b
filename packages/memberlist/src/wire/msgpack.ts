/**
 * A minimal msgpack encoder and decoder, shaped for memberlist's wire format
 * (shared/reference/memberlist-wire-protocol.md §3 and Appendix A.6).
 *
 * Go's memberlist writes both `string` and `[]byte` fields in the old "raw" str family, so this
 * decoder returns every str and bin value as raw bytes (`Uint8Array`) and leaves it to a
 * per-struct schema (codec.ts) to turn real string fields into JS strings. Map keys are decoded
 * as UTF-8 strings. Floats and ext types never occur in memberlist traffic and are rejected.
 *
 * The decoder is total: it never throws. It reports how many bytes one value used (push/pull
 * bodies are several values back to back), and it tells "need more bytes" (a stream that has
 * not arrived yet) apart from "malformed" (bytes that can never decode). Depth and length limits
 * bound the work one value can cause.
 *
 * The encoder writes the forms Go writes, for byte identity with Go's golden vectors: maps with
 * keys in byte-wise ascending order, the str family without str8 (fixstr, str16, str32) for both
 * strings and bytes, the smallest unsigned form for non-negative integers, and nil for absent
 * byte slices.
 */

/** A decoded msgpack value. str and bin both decode to `Uint8Array`. */
export type MsgpackValue =
  | null
  | boolean
  | number
  | bigint
  | Uint8Array
  | readonly MsgpackValue[]
  | ReadonlyMap<string, MsgpackValue>

/** A value the encoder accepts: a decoded value, or a JS string (written as UTF-8 str). */
export type MsgpackInput =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly MsgpackInput[]
  | ReadonlyMap<string, MsgpackInput>

/** Limits applied while decoding one value. */
export interface MsgpackDecodeLimits {
  /** Maximum nesting of arrays and maps. @default 32 */
  readonly maxDepth: number
  /** Maximum length in bytes of one str or bin value. @default 64 MiB */
  readonly maxBytesLength: number
  /** Maximum number of elements (array) or entries (map) in one container. @default 1_048_576 */
  readonly maxContainerLength: number
}

export const defaultMsgpackDecodeLimits: MsgpackDecodeLimits = {
  maxDepth: 32,
  maxBytesLength: 64 * 1024 * 1024,
  maxContainerLength: 1_048_576,
}

/** Result of decoding one value at an offset. */
export type MsgpackDecodeResult =
  | { readonly status: 'ok'; readonly value: MsgpackValue; readonly bytesRead: number }
  | { readonly status: 'needMore' }
  | { readonly status: 'malformed'; readonly detail: string }

class NeedMore {}
class Malformed {
  readonly detail: string
  constructor(detail: string) {
    this.detail = detail
  }
}
const needMore = new NeedMore()

const lossyUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

/**
 * Decodes one msgpack value from `buf` starting at `offset`. Never throws. Byte values are
 * copies, so the caller may reuse `buf` afterwards.
 */
export function decodeMsgpack(
  buf: Uint8Array,
  offset = 0,
  limits: Partial<MsgpackDecodeLimits> = {},
): MsgpackDecodeResult {
  const reader = new Reader(buf, offset, { ...defaultMsgpackDecodeLimits, ...limits })
  try {
    const value = reader.value(0)
    return { status: 'ok', value, bytesRead: reader.pos - offset }
  } catch (err) {
    if (err === needMore) return { status: 'needMore' }
    if (err instanceof Malformed) return { status: 'malformed', detail: err.detail }
    // Anything else (a RangeError from a typed array, say) is still bad input, never a crash.
    return { status: 'malformed', detail: `unexpected decoder failure: ${String(err)}` }
  }
}

class Reader {
  pos: number
  private readonly buf: Uint8Array
  private readonly view: DataView
  private readonly limits: MsgpackDecodeLimits

  constructor(buf: Uint8Array, offset: number, limits: MsgpackDecodeLimits) {
    this.buf = buf
    this.pos = offset
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.limits = limits
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw needMore
  }

  private u8(): number {
    this.need(1)
    const v = this.buf[this.pos]!
    this.pos += 1
    return v
  }

  private u16(): number {
    this.need(2)
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }

  private u32(): number {
    this.need(4)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  private bytes(n: number): Uint8Array {
    if (n > this.limits.maxBytesLength) {
      throw new Malformed(`str/bin of ${n} bytes exceeds limit ${this.limits.maxBytesLength}`)
    }
    this.need(n)
    const out = this.buf.slice(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  value(depth: number): MsgpackValue {
    const b = this.u8()
    if (b <= 0x7f) return b
    if (b >= 0xe0) return b - 0x100
    if (b >= 0xa0 && b <= 0xbf) return this.bytes(b & 0x1f)
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f, depth)
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth)
    return this.tagged(b, depth)
  }

  private tagged(b: number, depth: number): MsgpackValue {
    switch (b) {
      case 0xc0:
        return null
      case 0xc2:
        return false
      case 0xc3:
        return true
      case 0xc4:
      case 0xd9:
        return this.bytes(this.u8())
      case 0xc5:
      case 0xda:
        return this.bytes(this.u16())
      case 0xc6:
      case 0xdb:
        return this.bytes(this.u32())
      case 0xcc:
        return this.u8()
      case 0xcd:
        return this.u16()
      case 0xce:
        return this.u32()
      case 0xcf:
        return this.int64(false)
      case 0xd0:
        return (this.u8() << 24) >> 24
      case 0xd1:
        return (this.u16() << 16) >> 16
      case 0xd2:
        return this.u32() | 0
      case 0xd3:
        return this.int64(true)
      case 0xdc:
        return this.array(this.u16(), depth)
      case 0xdd:
        return this.array(this.u32(), depth)
      case 0xde:
        return this.map(this.u16(), depth)
      case 0xdf:
        return this.map(this.u32(), depth)
      default:
        throw new Malformed(`unsupported msgpack type byte 0x${b.toString(16)}`)
    }
  }

  private int64(signed: boolean): number | bigint {
    this.need(8)
    const v = signed ? this.view.getBigInt64(this.pos) : this.view.getBigUint64(this.pos)
    this.pos += 8
    const small = Number(v)
    return Number.isSafeInteger(small) ? small : v
  }

  private checkContainer(n: number, depth: number): void {
    if (depth >= this.limits.maxDepth) throw new Malformed('msgpack nesting too deep')
    if (n > this.limits.maxContainerLength) {
      throw new Malformed(`container of ${n} entries exceeds limit`)
    }
  }

  private array(n: number, depth: number): MsgpackValue[] {
    this.checkContainer(n, depth)
    const out: MsgpackValue[] = []
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1))
    return out
  }

  private map(n: number, depth: number): Map<string, MsgpackValue> {
    this.checkContainer(n, depth)
    const out = new Map<string, MsgpackValue>()
    for (let i = 0; i < n; i++) {
      const key = this.key(depth + 1)
      out.set(key, this.value(depth + 1))
    }
    return out
  }

  /**
   * Map keys: str/bin become UTF-8 strings. Scalar keys of other types get a '#'-prefixed form
   * that can never equal a Go field name, so the entry is skipped like an unknown key.
   */
  private key(depth: number): string {
    const k = this.value(depth)
    if (k instanceof Uint8Array) return decodeUtf8(k, lossyUtf8)
    if (k === null || typeof k === 'boolean' || typeof k === 'number' || typeof k === 'bigint') {
      return `#${String(k)}`
    }
    throw new Malformed('map key must be a scalar')
  }
}

const utf8 = new TextEncoder()

/**
 * A growable output buffer with msgpack writers in Go's forms. Integer writers assert their
 * argument: a non-integer or out-of-range number is a bug in the caller, not bad input.
 */
export class MsgpackWriter {
  private buf = new Uint8Array(64)
  private length = 0

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }

  private byte(b: number): void {
    this.reserve(1)
    this.buf[this.length++] = b
  }

  private be16(v: number): void {
    this.reserve(2)
    this.buf[this.length++] = (v >>> 8) & 0xff
    this.buf[this.length++] = v & 0xff
  }

  private be32(v: number): void {
    this.reserve(4)
    this.buf[this.length++] = (v >>> 24) & 0xff
    this.buf[this.length++] = (v >>> 16) & 0xff
    this.buf[this.length++] = (v >>> 8) & 0xff
    this.buf[this.length++] = v & 0xff
  }

  private be64(v: bigint): void {
    this.be32(Number((v >> 32n) & 0xffffffffn))
    this.be32(Number(v & 0xffffffffn))
  }

  /** Appends raw bytes with no msgpack framing (user state, user message bodies). */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length)
    this.buf.set(bytes, this.length)
    this.length += bytes.length
    return this
  }

  /** Appends one byte with no framing (a message type byte). */
  rawByte(b: number): this {
    this.byte(b & 0xff)
    return this
  }

  nil(): this {
    this.byte(0xc0)
    return this
  }

  bool(v: boolean): this {
    this.byte(v ? 0xc3 : 0xc2)
    return this
  }

  /** The smallest unsigned form: positive fixint, cc, cd, ce, cf. */
  uint(v: number | bigint): this {
    if (typeof v === 'bigint') return this.bigUint(v)
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`not a uint: ${v}`)
    if (v <= 0x7f) this.byte(v)
    else if (v <= 0xff) {
      this.byte(0xcc)
      this.byte(v)
    } else if (v <= 0xffff) {
      this.byte(0xcd)
      this.be16(v)
    } else if (v <= 0xffffffff) {
      this.byte(0xce)
      this.be32(v)
    } else return this.bigUint(BigInt(v))
    return this
  }

  private bigUint(v: bigint): this {
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`not a uint64: ${v}`)
    if (v <= 0xffffffffn) return this.uint(Number(v))
    this.byte(0xcf)
    this.be64(v)
    return this
  }

  /** Any integer: unsigned forms when >= 0, else negative fixint or the smallest d0..d3. */
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not an integer: ${v}`)
    if (v >= 0) return this.uint(v)
    if (v >= -32) this.byte(v & 0xff)
    else if (v >= -0x80) {
      this.byte(0xd0)
      this.byte(v & 0xff)
    } else if (v >= -0x8000) {
      this.byte(0xd1)
      this.be16(v & 0xffff)
    } else if (v >= -0x80000000) {
      this.byte(0xd2)
      this.be32(v >>> 0)
    } else {
      this.byte(0xd3)
      this.be64(BigInt.asUintN(64, BigInt(v)))
    }
    return this
  }

  /** Bytes in the str family as Go writes them: fixstr, str16, str32 (never str8, never bin). */
  str(bytes: Uint8Array): this {
    const n = bytes.length
    if (n < 32) this.byte(0xa0 | n)
    else if (n <= 0xffff) {
      this.byte(0xda)
      this.be16(n)
    } else if (n <= 0xffffffff) {
      this.byte(0xdb)
      this.be32(n)
    } else throw new RangeError('str too long')
    return this.raw(bytes)
  }

  /** A JS string as UTF-8 in the str family. ASCII is written directly (TextEncoder is slow). */
  string(s: string): this {
    const n = s.length
    if (n >= 32 || !isAscii(s)) return this.str(utf8.encode(s))
    this.reserve(1 + n)
    this.buf[this.length++] = 0xa0 | n
    for (let i = 0; i < n; i++) this.buf[this.length++] = s.charCodeAt(i)
    return this
  }

  /** Bytes, or nil when absent: how Go writes a `[]byte` field. */
  bytesOrNil(bytes: Uint8Array | undefined): this {
    return bytes === undefined ? this.nil() : this.str(bytes)
  }

  mapHeader(n: number): this {
    if (n < 16) this.byte(0x80 | n)
    else if (n <= 0xffff) {
      this.byte(0xde)
      this.be16(n)
    } else {
      this.byte(0xdf)
      this.be32(n)
    }
    return this
  }

  arrayHeader(n: number): this {
    if (n < 16) this.byte(0x90 | n)
    else if (n <= 0xffff) {
      this.byte(0xdc)
      this.be16(n)
    } else {
      this.byte(0xdd)
      this.be32(n)
    }
    return this
  }

  /** Writes any value; maps get their keys sorted byte-wise, as Go does for struct fields. */
  value(v: MsgpackInput): this {
    if (v === null) return this.nil()
    if (typeof v === 'boolean') return this.bool(v)
    if (typeof v === 'number') return this.int(v)
    if (typeof v === 'bigint') return v >= 0n ? this.uint(v) : this.int(Number(v))
    if (typeof v === 'string') return this.string(v)
    if (v instanceof Uint8Array) return this.str(v)
    if (v instanceof Map) return this.map(v as ReadonlyMap<string, MsgpackInput>)
    const items = v as readonly MsgpackInput[]
    this.arrayHeader(items.length)
    for (const item of items) this.value(item)
    return this
  }

  private map(m: ReadonlyMap<string, MsgpackInput>): this {
    const entries = [...m.entries()].map(([k, val]) => [utf8.encode(k), val] as const)
    entries.sort((a, b) => compareBytes(a[0], b[0]))
    this.mapHeader(entries.length)
    for (const [k, val] of entries) {
      this.str(k)
      this.value(val)
    }
    return this
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** Decodes UTF-8 bytes, with a fast path for short ASCII (map keys, node names). */
export function decodeUtf8(
  bytes: Uint8Array,
  decoder: { decode(input: Uint8Array): string },
): string {
  if (bytes.length > 64) return decoder.decode(bytes)
  let out = ''
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b > 0x7f) return decoder.decode(bytes)
    out += String.fromCharCode(b)
  }
  return out
}

/** Byte-wise comparison, the order Go's encoder uses for struct field names. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** Encodes one value in Go's forms. */
export function encodeMsgpack(v: MsgpackInput): Uint8Array {
  return new MsgpackWriter().value(v).finish()
}
