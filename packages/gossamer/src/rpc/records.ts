/**
 * Payload layouts shared by every RPC method that carries stored data (docs/rpc.md "Payload
 * primitives"): versions, stored records, optional strings, and the `Codec` pair type each
 * method's request and response layout is written as. Pure: no I/O. Readers abort through
 * `PayloadReader.fail`, so every decode built from these is total under `PayloadReader.run`.
 */
import type { Version } from '../hlc/version.ts'
import type { StoredRecord } from '../storage/engine.ts'
import type { PayloadReader, PayloadWriter } from './payload.ts'

/** A payload layout: how to write a value and read it back. */
export interface Codec<T> {
  write(w: PayloadWriter, value: T): void
  read(r: PayloadReader): T
}

/** Smallest encoding of a version: wallMs (8), logical (4), empty nodeId (2). */
export const VERSION_BYTES_MIN = 14
/** Smallest encoding of a record: a version and the flags byte (a tombstone). */
export const RECORD_BYTES_MIN = VERSION_BYTES_MIN + 1

/** `version` = `wallMs: u64, logical: u32, nodeId: string`. */
export function writeVersion(w: PayloadWriter, v: Version): void {
  w.u64(v.wallMs)
  w.u32(v.logical)
  w.string(v.nodeId)
}

/** Reads a `version`. */
export function readVersion(r: PayloadReader): Version {
  return { wallMs: r.u64(), logical: r.u32(), nodeId: r.string() }
}

const HAS_VALUE = 1
const HAS_EXPIRY = 2
const HAS_CONTENT_TYPE = 4

/** `record` = `version, flags: u8`, then value / expiresAtMs / contentType per flag bit. */
export function writeRecord(w: PayloadWriter, record: StoredRecord): void {
  writeVersion(w, record.version)
  const flags =
    (record.value !== null ? HAS_VALUE : 0) |
    (record.expiresAtMs !== undefined ? HAS_EXPIRY : 0) |
    (record.contentType !== undefined ? HAS_CONTENT_TYPE : 0)
  w.u8(flags)
  if (record.value !== null) w.bytes(record.value)
  if (record.expiresAtMs !== undefined) w.u64(record.expiresAtMs)
  if (record.contentType !== undefined) w.string(record.contentType)
}

/** Reads a `record`; unknown flag bits are malformed. */
export function readRecord(r: PayloadReader): StoredRecord {
  const version = readVersion(r)
  const flags = r.u8()
  if (flags > 7) r.fail('record flags')
  const value = flags & HAS_VALUE ? r.bytes() : null
  const expiresAtMs = flags & HAS_EXPIRY ? r.u64() : undefined
  const contentType = flags & HAS_CONTENT_TYPE ? r.string() : undefined
  const record: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = { version, value }
  if (expiresAtMs !== undefined) record.expiresAtMs = expiresAtMs
  if (contentType !== undefined) record.contentType = contentType
  return record
}

/** `flag; string?`. */
export function writeOptionalString(w: PayloadWriter, text: string | undefined): void {
  w.u8(text !== undefined ? 1 : 0)
  if (text !== undefined) w.string(text)
}

/** Reads `flag; string?`. */
export function readOptionalString(r: PayloadReader): string | undefined {
  return r.flag() ? r.string() : undefined
}

/** `flag; version?`. */
export function writeOptionalVersion(w: PayloadWriter, v: Version | undefined): void {
  w.u8(v !== undefined ? 1 : 0)
  if (v !== undefined) writeVersion(w, v)
}

/** Reads `flag; version?`. */
export function readOptionalVersion(r: PayloadReader): Version | undefined {
  return r.flag() ? readVersion(r) : undefined
}

/** `count: u32` then `count` items. */
export function writeList<T>(
  w: PayloadWriter,
  items: readonly T[],
  write: (w: PayloadWriter, item: T) => void,
): void {
  w.u32(items.length)
  for (const item of items) write(w, item)
}

/**
 * Reads `count: u32` then that many items; the count is refused up front when the remaining
 * bytes cannot hold that many items of at least `minItemBytes` (so a hostile count allocates
 * nothing).
 */
export function readList<T>(r: PayloadReader, minItemBytes: number, read: () => T): T[] {
  const count = r.count(minItemBytes)
  const items: T[] = new Array(count)
  for (let i = 0; i < count; i++) items[i] = read()
  return items
}
