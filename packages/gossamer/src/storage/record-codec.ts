/**
 * The on-disk form of one `StoredRecord`. Both engines store exactly these bytes, so a record
 * means the same thing everywhere and the simulator can corrupt bytes to test detection.
 *
 * Layout, format 1 (all integers big-endian):
 *
 * | bytes | field                                                               |
 * |-------|---------------------------------------------------------------------|
 * | 1     | format version, 1                                                   |
 * | 1     | flags: bit 0 tombstone, bit 1 has expiry, bit 2 has content type    |
 * | 8     | version.wallMs, float64 holding a safe integer                      |
 * | 4     | version.logical, uint32                                             |
 * | 2 + n | version.nodeId, uint16 length + UTF-8                               |
 * | 8     | expiresAtMs, float64 holding a safe integer (only with bit 1)       |
 * | 2 + n | contentType, uint16 length + UTF-8 (only with bit 2)                |
 * | 4 + n | value, uint32 length + bytes (length 0 for a tombstone)             |
 * | 4     | CRC-32C of every byte before it                                     |
 *
 * Decoding checks the checksum first, then every length, flag and number, and throws
 * `StorageCorruptionError` (GOSSAMER_ERR_STORAGE_CORRUPT) on any mismatch: a torn or flipped
 * record is detected, never returned. Encoding rejects records that could not round-trip.
 */
import { putU16, putU32, u16At, u32At } from '../bytes/big-endian.ts'
import { asciiText, slabBytes, slabCopy } from '../bytes/slab.ts'
import { isValidVersion } from '../hlc/version.ts'
import { crc32c } from './crc32c.ts'
import type { StoredRecord } from './engine.ts'
import { StorageCorruptionError } from './errors.ts'
import { isWellFormedText } from './keys.ts'

/** The format version written by `encodeRecord`. Readers reject others. */
export const RECORD_FORMAT_VERSION = 1

const FLAG_TOMBSTONE = 0b001
const FLAG_HAS_EXPIRY = 0b010
const FLAG_HAS_CONTENT_TYPE = 0b100
const FLAGS_KNOWN = FLAG_TOMBSTONE | FLAG_HAS_EXPIRY | FLAG_HAS_CONTENT_TYPE
const SHORT_TEXT_BYTES_MAX = 0xffff
const CHECKSUM_BYTES = 4
/** Smallest possible record: header, version with a 1-byte node id, empty value, checksum. */
const RECORD_BYTES_MIN = 1 + 1 + 8 + 4 + 2 + 1 + 4 + CHECKSUM_BYTES

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Encodes `record` to its stored bytes.
 * @throws RangeError when the record cannot be stored faithfully (malformed version, expiry that
 *   is not a safe integer, text with a lone surrogate or over 65535 bytes). Such a record is a
 *   caller bug: versions come from the HLC and records from the coordinator.
 */
export function encodeRecord(record: StoredRecord): Uint8Array {
  assertEncodable(record)
  const nodeIdBytes = nodeIdText.bytesOf(record.version.nodeId)
  const contentTypeBytes =
    record.contentType === undefined ? undefined : contentTypeText.bytesOf(record.contentType)
  const value = record.value ?? new Uint8Array(0)
  assertShortText(nodeIdBytes, 'version.nodeId')
  if (contentTypeBytes !== undefined) assertShortText(contentTypeBytes, 'contentType')

  const hasExpiry = record.expiresAtMs !== undefined
  const byteCount =
    1 +
    1 +
    8 +
    4 +
    2 +
    nodeIdBytes.length +
    (hasExpiry ? 8 : 0) +
    (contentTypeBytes === undefined ? 0 : 2 + contentTypeBytes.length) +
    4 +
    value.length +
    CHECKSUM_BYTES
  // A view into a shared slab (see `slabBytes`), written with straight-line stores: a fresh
  // ArrayBuffer and DataView per record cost more than the encoding (and lmdb-js asks for the
  // native address of every new ArrayBuffer it is given to write).
  const bytes = slabBytes(byteCount)
  bytes[0] = RECORD_FORMAT_VERSION
  bytes[1] = recordFlags(record)
  putF64(bytes, 2, record.version.wallMs)
  putU32(bytes, 10, record.version.logical)
  let offset = writeShortText(bytes, 14, nodeIdBytes)
  if (record.expiresAtMs !== undefined) {
    putF64(bytes, offset, record.expiresAtMs)
    offset += 8
  }
  if (contentTypeBytes !== undefined) offset = writeShortText(bytes, offset, contentTypeBytes)
  putU32(bytes, offset, value.length)
  bytes.set(value, offset + 4)
  offset += 4 + value.length
  putU32(bytes, offset, crc32c(bytes, 0, offset))
  return bytes
}

/**
 * Decodes stored bytes. The returned value is a fresh copy, never a view into `bytes`.
 * @param key only used in the error message.
 * @throws StorageCorruptionError when the bytes are not a valid record of a known format.
 */
export function decodeRecord(bytes: Uint8Array, key?: string): StoredRecord {
  // Straight-line reads with one offset variable: no reader object, closure or DataView per
  // call (a GET decodes one record; docs/performance.md). Every read is bounds-checked against
  // `bodyEnd` before it happens.
  const length = bytes.length
  if (length < RECORD_BYTES_MIN) corrupt(`${length} bytes is shorter than any record`, key)
  const bodyEnd = length - CHECKSUM_BYTES
  const storedChecksum = u32At(bytes, bodyEnd)
  const computedChecksum = crc32c(bytes, 0, bodyEnd)
  if (storedChecksum !== computedChecksum) {
    corrupt(
      `checksum mismatch (stored ${hex32(storedChecksum)}, computed ${hex32(computedChecksum)})`,
      key,
    )
  }
  const formatVersion = bytes[0]!
  if (formatVersion !== RECORD_FORMAT_VERSION)
    corrupt(`unknown record format ${formatVersion}`, key)
  const flags = bytes[1]!
  if ((flags & ~FLAGS_KNOWN) !== 0) corrupt(`unknown flags ${flags}`, key)
  // Fixed header (format, flags, wallMs, logical, node id length) fits: RECORD_BYTES_MIN.
  const wallMs = f64At(bytes, 2)
  const logical = u32At(bytes, 10)
  let offset = 14
  const nodeIdLength = u16At(bytes, offset)
  offset += 2
  if (nodeIdLength > bodyEnd - offset) corrupt(overrun(nodeIdLength), key)
  const nodeId = nodeIdDecoded.textOf(bytes, offset, offset + nodeIdLength, key)
  offset += nodeIdLength
  const version = { wallMs, logical, nodeId }
  if (!isValidVersion(version)) corrupt('malformed version', key)
  let expiresAtMs: number | undefined
  if (flags & FLAG_HAS_EXPIRY) {
    if (8 > bodyEnd - offset) corrupt(overrun(8), key)
    expiresAtMs = f64At(bytes, offset)
    offset += 8
    if (!Number.isSafeInteger(expiresAtMs)) corrupt('malformed expiry', key)
  }
  let contentType: string | undefined
  if (flags & FLAG_HAS_CONTENT_TYPE) {
    if (2 > bodyEnd - offset) corrupt(overrun(2), key)
    const textLength = u16At(bytes, offset)
    offset += 2
    if (textLength > bodyEnd - offset) corrupt(overrun(textLength), key)
    contentType = contentTypeDecoded.textOf(bytes, offset, offset + textLength, key)
    offset += textLength
  }
  if (4 > bodyEnd - offset) corrupt(overrun(4), key)
  const valueLength = u32At(bytes, offset)
  offset += 4
  if (valueLength > bodyEnd - offset) corrupt(overrun(valueLength), key)
  if (offset + valueLength !== bodyEnd) {
    corrupt(`${bodyEnd - offset - valueLength} trailing bytes`, key)
  }
  const isTombstone = (flags & FLAG_TOMBSTONE) !== 0
  if (isTombstone && valueLength !== 0) corrupt('tombstone with a value', key)
  // A copy: the caller may hold a reused buffer (lmdb-js) or mutate the result.
  const value = slabCopy(bytes.subarray(offset, bodyEnd))
  return buildRecord({ version, isTombstone, value, expiresAtMs, contentType })
}

/**
 * `decodeRecord(bytes, key)`, deferred: scans hand every entry's decoder to a consumer that may
 * never call it. (Returned from a function rather than written inline as `record: () => …`,
 * which tsx's transform names with an Object.defineProperty per entry.)
 */
export function decodeLater(bytes: Uint8Array, key: string): () => StoredRecord {
  return () => decodeRecord(bytes, key)
}

function corrupt(why: string, key: string | undefined): never {
  throw new StorageCorruptionError(why, { key })
}

function overrun(length: number): string {
  return `field of ${length} bytes overruns the record`
}

// Big-endian float64 through a scratch buffer (the platform's own byte order is detected once).
const scratchBytes = new Uint8Array(8)
const scratchFloat = new Float64Array(scratchBytes.buffer)
const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

function f64At(bytes: Uint8Array, offset: number): number {
  if (isLittleEndian) {
    for (let i = 0; i < 8; i++) scratchBytes[7 - i] = bytes[offset + i]!
  } else {
    for (let i = 0; i < 8; i++) scratchBytes[i] = bytes[offset + i]!
  }
  return scratchFloat[0]!
}

/**
 * The text of the last bytes decoded in one field. Nearly every record carries one of a few
 * node ids and content types, so the same bytes are compared instead of decoded again.
 */
class LastDecoded {
  #bytes = new Uint8Array(0)
  #text = ''

  textOf(bytes: Uint8Array, start: number, end: number, key: string | undefined): string {
    const last = this.#bytes
    const length = end - start
    if (length === last.length) {
      let i = 0
      while (i < length && bytes[start + i] === last[i]) i++
      if (i === length) return this.#text
    }
    const text = decodeText(bytes, start, end, key)
    // A copy (Buffer's own `slice` would be a view into a buffer lmdb-js reuses).
    this.#bytes = new Uint8Array(bytes.subarray(start, end))
    this.#text = text
    return text
  }
}

const nodeIdDecoded = new LastDecoded()
const contentTypeDecoded = new LastDecoded()

function decodeText(bytes: Uint8Array, start: number, end: number, key: string | undefined) {
  const ascii = asciiText(bytes, start, end)
  if (ascii !== undefined) return ascii
  try {
    return utf8Decoder.decode(bytes.subarray(start, end))
  } catch (cause) {
    return corrupt(`invalid UTF-8 text (${String(cause)})`, key)
  }
}

function buildRecord(fields: {
  version: StoredRecord['version']
  isTombstone: boolean
  value: Uint8Array
  expiresAtMs: number | undefined
  contentType: string | undefined
}): StoredRecord {
  const record: {
    version: StoredRecord['version']
    value: Uint8Array | null
    expiresAtMs?: number
    contentType?: string
  } = { version: fields.version, value: fields.isTombstone ? null : fields.value }
  if (fields.expiresAtMs !== undefined) record.expiresAtMs = fields.expiresAtMs
  if (fields.contentType !== undefined) record.contentType = fields.contentType
  return record
}

/**
 * The UTF-8 bytes of the last text encoded in one field. A node writes its own id into nearly
 * every version and clients repeat a handful of content types, so re-encoding (and re-checking)
 * the same string on every write is skipped. Only well-formed text is ever remembered.
 */
class LastText {
  #text: string | undefined
  #bytes = new Uint8Array(0)

  isLast(text: string): boolean {
    return text === this.#text
  }

  bytesOf(text: string): Uint8Array {
    if (text !== this.#text) {
      this.#bytes = utf8Encoder.encode(text)
      this.#text = text
    }
    return this.#bytes
  }
}

const nodeIdText = new LastText()
const contentTypeText = new LastText()

function recordFlags(record: StoredRecord): number {
  return (
    (record.value === null ? FLAG_TOMBSTONE : 0) |
    (record.expiresAtMs === undefined ? 0 : FLAG_HAS_EXPIRY) |
    (record.contentType === undefined ? 0 : FLAG_HAS_CONTENT_TYPE)
  )
}

function assertEncodable(record: StoredRecord): void {
  if (!isValidVersion(record.version)) {
    throw new RangeError(`record has a malformed version ${JSON.stringify(record.version)}`)
  }
  if (!nodeIdText.isLast(record.version.nodeId) && !isWellFormedText(record.version.nodeId)) {
    throw new RangeError('record version.nodeId contains a lone surrogate')
  }
  if (record.expiresAtMs !== undefined && !Number.isSafeInteger(record.expiresAtMs)) {
    throw new RangeError(`record expiresAtMs ${record.expiresAtMs} is not a safe integer`)
  }
  if (
    record.contentType !== undefined &&
    !contentTypeText.isLast(record.contentType) &&
    !isWellFormedText(record.contentType)
  ) {
    throw new RangeError('record contentType contains a lone surrogate')
  }
  if (record.value !== null && !(record.value instanceof Uint8Array)) {
    throw new RangeError('record value must be a Uint8Array or null')
  }
}

function assertShortText(bytes: Uint8Array, field: string): void {
  if (bytes.length > SHORT_TEXT_BYTES_MAX) {
    throw new RangeError(`record ${field} is ${bytes.length} bytes, more than 65535`)
  }
}

function writeShortText(target: Uint8Array, offset: number, text: Uint8Array) {
  putU16(target, offset, text.length)
  target.set(text, offset + 2)
  return offset + 2 + text.length
}

function putF64(bytes: Uint8Array, offset: number, n: number): void {
  scratchFloat[0] = n
  if (isLittleEndian) {
    for (let i = 0; i < 8; i++) bytes[offset + i] = scratchBytes[7 - i]!
  } else {
    for (let i = 0; i < 8; i++) bytes[offset + i] = scratchBytes[i]!
  }
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}
