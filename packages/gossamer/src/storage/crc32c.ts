/**
 * CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum that guards
 * every stored record (see `record-codec.ts`). Chosen over the IEEE polynomial for its better
 * error detection on storage-sized blocks (it is what iSCSI, ext4 metadata and LevelDB use).
 * Pure TypeScript, table-driven, one byte at a time.
 */

const CRC32C_TABLE: Uint32Array = buildTable(0x82f63b78)

function buildTable(reversedPolynomial: number): Uint32Array {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ reversedPolynomial : c >>> 1
    table[n] = c >>> 0
  }
  return table
}

/** CRC-32C of `bytes[start, end)` as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff
  for (let i = start; i < end; i++) {
    crc = CRC32C_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  }
  return (crc ^ 0xffffffff) >>> 0
}
