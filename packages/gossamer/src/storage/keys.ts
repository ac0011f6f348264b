/**
 * Key rules shared by every engine. Keys are UTF-8 strings (architecture §4) and every engine
 * orders them by their UTF-8 bytes, which is also Unicode code-point order. JavaScript's `<`
 * compares UTF-16 code units instead, which disagrees for astral characters (stored as
 * surrogates D800–DFFF) against U+E000..U+FFFF; `compareKeys` corrects for that without
 * encoding, so the in-memory engine and LMDB (which compares raw bytes) agree on every order.
 */
import { StorageKeyError } from './errors.ts'

// A lone surrogate: with the `u` flag, a well-formed pair is one code point and does not match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/** Negative, zero or positive as `a` sorts before, equal to or after `b` in UTF-8 byte order. */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const unitA = a.charCodeAt(i)
    const unitB = b.charCodeAt(i)
    if (unitA !== unitB) return codeUnitRank(unitA) < codeUnitRank(unitB) ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

// Moves surrogates above U+E000..U+FFFF so that code-unit order becomes code-point order.
function codeUnitRank(unit: number): number {
  if (unit < 0xd800) return unit
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800
}

/** Number of bytes `text` takes in UTF-8 (well-formed text; lone surrogates count 3). */
export function utf8ByteLength(text: string): number {
  let byteCount = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) byteCount += 1
    else if (unit < 0x800) byteCount += 2
    else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length) {
      byteCount += 4
      i += 1
    } else byteCount += 3
  }
  return byteCount
}

// `String.prototype.isWellFormed` (ES2024; in Node 20's V8): a native scan instead of a regular
// expression test, which every PUT ran twice (the HTTP key check and the engine's).
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean })
  .isWellFormed

/** True when `text` has no lone surrogate, so it has an exact UTF-8 form. */
export function isWellFormedText(text: string): boolean {
  return nativeIsWellFormed === undefined
    ? !LONE_SURROGATE.test(text)
    : nativeIsWellFormed.call(text)
}

/**
 * Throws `StorageKeyError` unless `key` is a non-empty, well-formed string of at most
 * `maxKeyBytes` UTF-8 bytes.
 */
export function assertStorableKey(key: unknown, maxKeyBytes: number): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new StorageKeyError('GOSSAMER_ERR_KEY_INVALID', 'key must be a non-empty string')
  }
  if (!isWellFormedText(key)) {
    throw new StorageKeyError(
      'GOSSAMER_ERR_KEY_INVALID',
      'key contains a lone UTF-16 surrogate and has no UTF-8 form',
    )
  }
  const byteCount = utf8ByteLength(key)
  if (byteCount > maxKeyBytes) {
    throw new StorageKeyError(
      'GOSSAMER_ERR_KEY_TOO_LARGE',
      `key is ${byteCount} bytes of UTF-8, more than this engine's limit of ${maxKeyBytes}`,
    )
  }
}

/**
 * The smallest key strictly greater than `key` in UTF-8 byte order: `key` followed by U+0000.
 * Scans use it to resume "strictly after" a cursor with an inclusive start.
 */
export function keySuccessor(key: string): string {
  return `${key}\u0000`
}
