/**
 * Small byte arrays carved out of shared 8 KiB slabs, as Node's own Buffer pool does. A fresh
 * `ArrayBuffer` per small array is an off-heap allocation the garbage collector tracks and
 * sweeps, and lmdb-js asks for the native address of every new `ArrayBuffer` it is given; on the
 * PUT path that cost more than the work around it (docs/performance.md, third session).
 *
 * A slab region is handed out once and never written again by this module: a held view keeps its
 * slab alive, and a full slab is replaced by a new one. So a view may be kept, queued to a socket
 * or to lmdb-js, or mutated by its owner. What a view must not be is stored for a long time in
 * bulk (a held view pins its whole slab): a store that keeps records in memory copies them to
 * exact-size arrays. Arrays above half a slab get their own `ArrayBuffer`.
 */

const SLAB_BYTES = 8192
let slab = new ArrayBuffer(SLAB_BYTES)
let slabOffset = 0

/** A zero-filled array of `length` bytes, usually a view into a shared slab. */
export function slabBytes(length: number): Uint8Array {
  if (length > SLAB_BYTES >>> 1) return new Uint8Array(length)
  if (slabOffset + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabOffset = 0
  }
  const bytes = new Uint8Array(slab, slabOffset, length)
  slabOffset += (length + 7) & ~7
  return bytes
}

/** A copy of `source` (usually a view into a shared slab). */
export function slabCopy(source: Uint8Array): Uint8Array {
  const copy = slabBytes(source.length)
  copy.set(source)
  return copy
}

const latin1Slice = Buffer.prototype.latin1Slice as (
  this: Uint8Array,
  start: number,
  end: number,
) => string

/**
 * The text of `bytes[start, end)` when every byte is ASCII (the common case for keys, node ids
 * and content types), through Buffer's native latin1 slice; undefined otherwise.
 */
export function asciiText(bytes: Uint8Array, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return undefined
  return latin1Slice.call(bytes, start, end)
}

/** True when every UTF-16 unit of `text` is ASCII (so its UTF-8 bytes are its char codes). */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false
  return true
}
