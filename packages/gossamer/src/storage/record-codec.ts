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
// ASCII text (node ids, content types: nearly every short text) decodes through Buffer's native
// latin1 slice, several times cheaper per call than TextDecoder; anything else goes through the
// validating decoder.
const latin1Slice = Buffer.prototype.latin1Slice as (
  this: Uint8Array,
  start: number,
  end: number,
) => string

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
  const bytes = new Uint8Array(byteCount)
  const view = new DataView(bytes.buffer)
  let offset = 0
  view.setUint8(offset++, RECORD_FORMAT_VERSION)
  view.setUint8(offset++, recordFlags(record))
  view.setFloat64(offset, record.version.wallMs)
  view.setUint32(offset + 8, record.version.logical)
  offset = writeShortText(bytes, view, offset + 12, nodeIdBytes)
  if (record.expiresAtMs !== undefined) {
    view.setFloat64(offset, record.expiresAtMs)
    offset += 8
  }
  if (contentTypeBytes !== undefined) offset = writeShortText(bytes, view, offset, contentTypeBytes)
  view.setUint32(offset, value.length)
  bytes.set(value, offset + 4)
  offset += 4 + value.length
  view.setUint32(offset, crc32c(bytes, 0, offset))
  return bytes
}

/**
 * Decodes stored bytes. The returned value is a fresh copy, never a view into `bytes`.
 * @param key only used in the error message.
 * @throws StorageCorruptionError when the bytes are not a valid record of a known format.
 */
export function decodeRecord(bytes: Uint8Array, key?: string): StoredRecord {
  const fail = (why: string): never => {
    throw new StorageCorruptionError(why, { key })
  }
  if (bytes.length < RECORD_BYTES_MIN) fail(`${bytes.length} bytes is shorter than any record`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const bodyEnd = bytes.length - CHECKSUM_BYTES
  const storedChecksum = view.getUint32(bodyEnd)
  const computedChecksum = crc32c(bytes, 0, bodyEnd)
  if (storedChecksum !== computedChecksum) {
    fail(`checksum mismatch (stored ${hex32(storedChecksum)}, computed ${hex32(computedChecksum)})`)
  }
  const reader = new RecordReader(bytes, view, bodyEnd, fail)
  const formatVersion = reader.u8()
  if (formatVersion !== RECORD_FORMAT_VERSION) fail(`unknown record format ${formatVersion}`)
  const flags = reader.u8()
  if ((flags & ~FLAGS_KNOWN) !== 0) fail(`unknown flags ${flags}`)
  const version = { wallMs: reader.f64(), logical: reader.u32(), nodeId: reader.shortText() }
  if (!isValidVersion(version)) fail('malformed version')
  const expiresAtMs = flags & FLAG_HAS_EXPIRY ? reader.f64() : undefined
  if (expiresAtMs !== undefined && !Number.isSafeInteger(expiresAtMs)) fail('malformed expiry')
  const contentType = flags & FLAG_HAS_CONTENT_TYPE ? reader.shortText() : undefined
  const value = reader.bytes(reader.u32())
  if (reader.offset !== bodyEnd) fail(`${bodyEnd - reader.offset} trailing bytes`)
  const isTombstone = (flags & FLAG_TOMBSTONE) !== 0
  if (isTombstone && value.length !== 0) fail('tombstone with a value')
  return buildRecord({ version, isTombstone, value, expiresAtMs, contentType })
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

function writeShortText(target: Uint8Array, view: DataView, offset: number, text: Uint8Array) {
  view.setUint16(offset, text.length)
  target.set(text, offset + 2)
  return offset + 2 + text.length
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}

// Small value copies are views into a shared slab, as Buffer's own pool does: a fresh
// ArrayBuffer per read (an off-heap allocation tracked by the GC) cost more than the rest of
// decoding. A held value keeps its slab (8 KiB) alive; values above half a slab get their own.
const SLAB_BYTES = 8192
let slab = new ArrayBuffer(SLAB_BYTES)
let slabOffset = 0

function copyOf(source: Uint8Array): Uint8Array {
  const length = source.length
  if (length > SLAB_BYTES >>> 1) return new Uint8Array(source)
  if (slabOffset + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabOffset = 0
  }
  const copy = new Uint8Array(slab, slabOffset, length)
  copy.set(source)
  slabOffset += (length + 7) & ~7
  return copy
}

/** Bounds-checked sequential reads over a record body; any overrun is corruption. */
class RecordReader {
  offset = 0
  readonly #bytes: Uint8Array
  readonly #view: DataView
  readonly #end: number
  readonly #fail: (why: string) => never

  constructor(bytes: Uint8Array, view: DataView, end: number, fail: (why: string) => never) {
    this.#bytes = bytes
    this.#view = view
    this.#end = end
    this.#fail = fail
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1))
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4))
  }

  f64(): number {
    return this.#view.getFloat64(this.#take(8))
  }

  bytes(length: number): Uint8Array {
    const start = this.#take(length)
    // A copy: the caller may hold a reused buffer (lmdb-js) or mutate the result.
    return copyOf(this.#bytes.subarray(start, start + length))
  }

  shortText(): string {
    const length = this.#view.getUint16(this.#take(2))
    const start = this.#take(length)
    const end = start + length
    const bytes = this.#bytes
    for (let i = start; i < end; i++) {
      if (bytes[i]! >= 0x80) return this.#utf8(start, end)
    }
    return latin1Slice.call(bytes, start, end)
  }

  #utf8(start: number, end: number): string {
    try {
      return utf8Decoder.decode(this.#bytes.subarray(start, end))
    } catch (cause) {
      return this.#fail(`invalid UTF-8 text (${String(cause)})`)
    }
  }

  #take(length: number): number {
    const start = this.offset
    if (length > this.#end - start) this.#fail(`field of ${length} bytes overruns the record`)
    this.offset = start + length
    return start
  }
}
