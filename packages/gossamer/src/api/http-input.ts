/**
 * Parsing of everything a client controls in a request that is not a body: keys taken from raw
 * URL paths, `?ttl=` durations, list cursors and limits, and entity-tag lists from `If-Match` /
 * `If-None-Match` (RFC 9110 §8.8.3, §13.1.1–13.1.2). Every function either returns a value or
 * throws a `GossamerError` with a 4xx code; none of them trusts its input.
 */
import { GossamerError } from '../errors.ts'
import { formatVersion, type Version } from '../hlc/version.ts'
import { type Consistency, parseConsistency } from '../replication/consistency.ts'
import { isWellFormedText } from '../storage/keys.ts'

/** Size limits enforced on keys and values. */
export interface InputLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
}

/** Bytes of UTF-8 needed for well-formed `text`. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}

/** Throws unless `key` is a string of 1..maxKeyBytes bytes of well-formed UTF-8. */
export function validateKey(key: unknown, limits: InputLimits): string {
  if (typeof key !== 'string') {
    throw new GossamerError('GOSSAMER_ERR_KEY_INVALID', 'key must be a string')
  }
  if (key.length === 0) throw new GossamerError('GOSSAMER_ERR_KEY_INVALID', 'key must not be empty')
  if (key === '.' || key === '..') {
    // HTTP clients (WHATWG URL, curl) remove "." and ".." path segments, even as %2E: such a
    // key could be written through a JSON body but never read back through a path.
    throw new GossamerError(
      'GOSSAMER_ERR_KEY_INVALID',
      `key "${key}" is a URL dot segment, which HTTP clients remove from paths; use another key`,
    )
  }
  if (!isWellFormedText(key)) {
    throw new GossamerError('GOSSAMER_ERR_KEY_INVALID', 'key is not well-formed UTF-8')
  }
  const byteCount = utf8Bytes(key)
  if (byteCount > limits.maxKeyBytes) {
    throw new GossamerError(
      'GOSSAMER_ERR_KEY_TOO_LARGE',
      `key is ${byteCount} bytes of UTF-8; the limit is ${limits.maxKeyBytes}`,
    )
  }
  return key
}

/** Throws VALUE_TOO_LARGE when `byteCount` exceeds the limit. */
export function checkValueSize(byteCount: number, limits: InputLimits): void {
  if (byteCount > limits.maxValueBytes) {
    throw new GossamerError(
      'GOSSAMER_ERR_VALUE_TOO_LARGE',
      `value is ${byteCount} bytes; the limit is ${limits.maxValueBytes}`,
    )
  }
}

/** Decodes one percent-encoded URL component, as a KEY_INVALID error when malformed. */
export function decodeComponent(raw: string, what: string): string {
  // Without a '%' there is nothing to decode (decodeURIComponent would return `raw` itself).
  if (!raw.includes('%')) return raw
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new GossamerError(
      'GOSSAMER_ERR_KEY_INVALID',
      `${what} is not valid percent-encoded UTF-8`,
    )
  }
}

/**
 * The raw (still percent-encoded) path after `prefix`, query string removed. An absolute-form
 * request target (`GET http://host/v1/kv/a`, RFC 9112 §3.2.2) is reduced to its path first.
 */
export function rawPathAfter(url: string, prefix: string): string {
  const queryIndex = url.indexOf('?')
  let path = queryIndex === -1 ? url : url.slice(0, queryIndex)
  // Origin-form targets (the usual case) start with '/'; only others can be absolute-form.
  if (!path.startsWith('/')) path = path.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/, '')
  if (!path.startsWith(prefix)) {
    throw new GossamerError('GOSSAMER_ERR_URL_INVALID', 'the request target is not a path')
  }
  return path.slice(prefix.length)
}

/** A single query parameter as a string, or undefined; repeated parameters are rejected. */
export function queryParam(
  query: unknown,
  name: string,
  code: 'GOSSAMER_ERR_KEY_INVALID' | 'GOSSAMER_ERR_QUERY_INVALID' = 'GOSSAMER_ERR_QUERY_INVALID',
): string | undefined {
  if (typeof query !== 'object' || query === null) return undefined
  const value = (query as Record<string, unknown>)[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    throw new GossamerError(code, `query parameter "${name}" must be given once`)
  }
  return value
}

const TTL_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

/** Longest accepted TTL: ten years. */
export const TTL_MAX_MS = 3650 * 86_400_000

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` (or bare milliseconds) into a positive number of ms. */
export function parseTtlMs(text: string): number {
  const m = /^(\d{1,13})(ms|s|m|h|d)?$/.exec(text.trim())
  const ttlMs = m === null ? Number.NaN : Number(m[1]) * TTL_UNITS_MS[m[2] ?? 'ms']!
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > TTL_MAX_MS) {
    throw new GossamerError(
      'GOSSAMER_ERR_TTL_INVALID',
      `ttl must be a positive duration such as 500ms, 30s, 5m, 1h or 7d (at most 3650d)`,
    )
  }
  return ttlMs
}

/** Default and maximum page sizes for listing. */
export const LIST_LIMIT_DEFAULT = 100
export const LIST_LIMIT_MAX = 1000

/** Parses `?limit=`; absent means the default. */
export function parseLimit(text: string | undefined): number {
  if (text === undefined || text === '') return LIST_LIMIT_DEFAULT
  const limit = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN
  if (!(limit >= 1 && limit <= LIST_LIMIT_MAX)) {
    throw new GossamerError(
      'GOSSAMER_ERR_LIMIT_INVALID',
      `limit must be an integer from 1 to ${LIST_LIMIT_MAX}`,
    )
  }
  return limit
}

/** Parses a boolean query flag (`true|false|1|0`, empty or absent = false). */
export function parseFlag(text: string | undefined, name: string): boolean {
  if (text === undefined || text === '' || text === 'false' || text === '0') return false
  if (text === 'true' || text === '1') return true
  throw new GossamerError('GOSSAMER_ERR_QUERY_INVALID', `${name} must be true or false`)
}

/** Cursors are opaque to clients: base64url of the last key of the previous page. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url')
}

/** Inverse of `encodeCursor`, validated like a key. */
export function decodeCursor(text: string, limits: InputLimits): string {
  const invalid = () => new GossamerError('GOSSAMER_ERR_CURSOR_INVALID', 'cursor is not valid')
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(text)) throw invalid()
  const key = Buffer.from(text, 'base64url').toString('utf8')
  if (key.length === 0 || encodeCursor(key) !== text) throw invalid()
  try {
    return validateKey(key, limits)
  } catch {
    throw invalid()
  }
}

/** `"<version>"`: the strong entity tag of a record. */
export function etagOf(version: Version): string {
  return `"${formatVersion(version)}"`
}

/** A parsed If-Match / If-None-Match header: `*` or a list of entity tags. */
export type EtagCondition =
  | { readonly kind: 'any' }
  | { readonly kind: 'tags'; readonly tags: ReadonlyArray<{ opaque: string; weak: boolean }> }

const ETAG_ITEM = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/

/** Parses an If-Match / If-None-Match header value; undefined when the header is absent. */
export function parseEtagCondition(
  header: string | string[] | undefined,
  name: string,
): EtagCondition | undefined {
  if (header === undefined) return undefined
  const text = Array.isArray(header) ? header.join(',') : header
  if (text.trim() === '*') return { kind: 'any' }
  const tags: Array<{ opaque: string; weak: boolean }> = []
  for (const item of text.split(',')) {
    const trimmed = item.trim()
    if (trimmed === '') continue
    const m = ETAG_ITEM.exec(trimmed)
    if (m === null || tags.length >= 64) {
      throw new GossamerError('GOSSAMER_ERR_HEADER_INVALID', `${name} is not a list of entity tags`)
    }
    tags.push({ opaque: m[2]!, weak: m[1] !== undefined })
  }
  if (tags.length === 0) {
    throw new GossamerError('GOSSAMER_ERR_HEADER_INVALID', `${name} is empty`)
  }
  return { kind: 'tags', tags }
}

/**
 * Whether the condition matches a record with `version` (undefined = no live record).
 * `strong` comparison (If-Match) never matches weak tags; weak comparison (If-None-Match) does.
 */
export function etagConditionMatches(
  condition: EtagCondition,
  version: Version | undefined,
  options: { strong: boolean },
): boolean {
  if (version === undefined) return false
  if (condition.kind === 'any') return true
  const opaque = formatVersion(version)
  return condition.tags.some((tag) => tag.opaque === opaque && !(options.strong && tag.weak))
}

/** Per-request consistency `?r=` / `?w=`: `one | quorum | all | <n>`; absent = undefined. */
export function consistencyParam(query: unknown, name: 'r' | 'w'): Consistency | undefined {
  const text = queryParam(query, name)
  if (text === undefined || text === '') return undefined
  const consistency = parseConsistency(text)
  if (consistency === undefined) {
    throw new GossamerError(
      'GOSSAMER_ERR_QUERY_INVALID',
      `${name} must be one, quorum, all or a positive integer`,
    )
  }
  return consistency
}

/** What a value without a stored content type is served as. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream'

/**
 * The content type a record stores for a request's `Content-Type`: none for an absent or empty
 * header, and none for the default (`application/octet-stream`), which reads back the same
 * without costing every record 26 bytes (a sixth of a 100-byte value's record; docs/api.md).
 */
export function storedContentType(header: string | undefined): string | undefined {
  return header === undefined || header === '' || header === DEFAULT_CONTENT_TYPE
    ? undefined
    : header
}
