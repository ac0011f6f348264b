/**
 * Big-endian integers read from and written to byte arrays with straight-line byte access (no
 * `DataView` per call): the record codec and the RPC frame and payload codecs share them. Callers
 * check bounds first.
 */

export function u16At(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!
}

export function u32At(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
}

export function putU16(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 8
  b[at + 1] = value
}

export function putU32(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 24
  b[at + 1] = value >>> 16
  b[at + 2] = value >>> 8
  b[at + 3] = value
}
