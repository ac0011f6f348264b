/**
 * LZW as Go's `compress/lzw` does it with LSB bit order and literal width 8, the only
 * compression memberlist uses (shared/reference/memberlist-wire-protocol.md §4.3). This is
 * GIF-style LZW: clear code 256, end code 257, first dictionary code 258, code width from 9 to
 * 12 bits, codes packed LSB-first.
 *
 * The encoder follows Go's Writer step by step so the output is byte-identical to Go's: a clear
 * code first; after each emitted code the next code number `hi` is incremented, widening the
 * code when it reaches the overflow mark; when `hi` reaches 4095 a clear is emitted at 12 bits
 * and the dictionary is reset without adding the pending entry; Close emits the pending code,
 * does the same increment, then the end code, then the final partial byte.
 *
 * The decoder follows Go's Reader: it handles the code == hi (KwKwK) case, stops adding entries
 * at 12 bits until a clear, and treats a stream that ends without the end code as an error.
 * Its output is bounded by a caller-given limit so a small packet cannot expand without end.
 */

const clearCode = 256
const eofCode = 257
const maxCode = 4095
const maxWidth = 12

/** Dictionary for the encoder: key (prefix code << 8 | byte) → (generation << 12 | code). */
const table = new Uint32Array(1 << 20)
let generation = 0

function nextGeneration(): number {
  generation++
  if (generation >= 1 << 20) {
    table.fill(0)
    generation = 1
  }
  return generation
}

class BitWriter {
  out = new Uint8Array(64)
  length = 0
  private bits = 0
  private nBits = 0

  write(code: number, width: number): void {
    this.bits |= code << this.nBits
    this.nBits += width
    while (this.nBits >= 8) {
      this.byte(this.bits & 0xff)
      this.bits >>>= 8
      this.nBits -= 8
    }
  }

  flush(): Uint8Array {
    if (this.nBits > 0) this.byte(this.bits & 0xff)
    return this.out.slice(0, this.length)
  }

  private byte(b: number): void {
    if (this.length === this.out.length) {
      const next = new Uint8Array(this.out.length * 2)
      next.set(this.out)
      this.out = next
    }
    this.out[this.length++] = b
  }
}

/** Compresses `input` exactly as Go's `lzw.NewWriter(w, lzw.LSB, 8)` followed by Close. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const w = new BitWriter()
  let width = 9
  let hi = eofCode
  let overflow = 512
  let gen = nextGeneration()
  w.write(clearCode, width)
  if (input.length === 0) {
    w.write(eofCode, width)
    return w.flush()
  }
  // Returns false when the codes ran out and the dictionary was reset.
  const incHi = (): boolean => {
    hi++
    if (hi === overflow) {
      width++
      overflow <<= 1
    }
    if (hi === maxCode) {
      w.write(clearCode, width)
      width = 9
      hi = eofCode
      overflow = 512
      gen = nextGeneration()
      return false
    }
    return true
  }
  let code = input[0]!
  for (let i = 1; i < input.length; i++) {
    const literal = input[i]!
    const key = (code << 8) | literal
    const entry = table[key]!
    if (entry >>> 12 === gen) {
      code = entry & 0xfff
      continue
    }
    w.write(code, width)
    code = literal
    if (incHi()) table[key] = ((gen << 12) | hi) >>> 0
  }
  w.write(code, width)
  incHi()
  w.write(eofCode, width)
  return w.flush()
}

/** Result of decompression. */
export type LzwResult =
  | { readonly ok: true; readonly output: Uint8Array }
  | { readonly ok: false; readonly detail: string }

class Output {
  buf: Uint8Array
  length = 0
  private readonly limit: number

  constructor(limit: number, hint: number) {
    this.limit = limit
    this.buf = new Uint8Array(Math.max(16, Math.min(limit, hint)))
  }

  /** Appends `src[from..to)`; false when that would pass the limit. */
  append(src: Uint8Array, from: number, to: number): boolean {
    const n = to - from
    if (this.length + n > this.limit) return false
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2
      while (size < this.length + n) size *= 2
      const next = new Uint8Array(Math.min(size, Math.max(this.limit, this.length + n)))
      next.set(this.buf.subarray(0, this.length))
      this.buf = next
    }
    this.buf.set(src.subarray(from, to), this.length)
    this.length += n
    return true
  }
}

/**
 * Decompresses Go-compatible LZW. Fails on an invalid code, on input that ends before the end
 * code, or when the output would exceed `maxOutputBytes`. Bytes after the end code are ignored.
 * Never throws.
 */
export function lzwDecompress(input: Uint8Array, maxOutputBytes: number): LzwResult {
  const prefix = new Uint16Array(maxCode + 1)
  const suffix = new Uint8Array(maxCode + 1)
  const scratch = new Uint8Array(maxCode + 2)
  const out = new Output(maxOutputBytes, input.length * 4)
  let width = 9
  let hi = eofCode
  let overflow = 512
  let last = -1
  let bits = 0
  let nBits = 0
  let pos = 0
  for (;;) {
    while (nBits < width) {
      if (pos >= input.length) return { ok: false, detail: 'lzw: unexpected EOF' }
      bits |= input[pos++]! << nBits
      nBits += 8
    }
    const code = bits & ((1 << width) - 1)
    bits >>>= width
    nBits -= width
    if (code === clearCode) {
      width = 9
      hi = eofCode
      overflow = 512
      last = -1
      continue
    }
    if (code === eofCode) return { ok: true, output: out.buf.slice(0, out.length) }
    if (code > hi) return { ok: false, detail: 'lzw: invalid code' }
    // Expand the code into scratch, writing backwards from the end.
    let i = scratch.length
    let c = code
    if (code === hi && last !== -1) {
      // KwKwK: the last expansion followed by its own first byte.
      let head = last
      while (head >= clearCode) head = prefix[head]!
      scratch[--i] = head
      c = last
    }
    while (c >= clearCode) {
      scratch[--i] = suffix[c]!
      c = prefix[c]!
    }
    scratch[--i] = c
    if (!out.append(scratch, i, scratch.length)) {
      return { ok: false, detail: `lzw: output exceeds ${maxOutputBytes} bytes` }
    }
    if (last !== -1 && hi <= maxCode) {
      suffix[hi] = c
      prefix[hi] = last
    }
    last = code
    hi++
    if (hi >= overflow) {
      if (width === maxWidth) {
        last = -1
        hi--
      } else {
        width++
        overflow <<= 1
      }
    }
  }
}
