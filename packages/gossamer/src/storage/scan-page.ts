/**
 * The part of `Engine.scan` that both engines share: given entries in key order starting at the
 * right place, keep the ones inside the prefix, drop dead ones unless asked for, stop at the
 * limit, and decide the cursor. Each engine only has to position an iterator.
 *
 * Bound: a page examines at most `SCAN_EXAMINED_MAX` entries beyond the ones it returns, so a
 * long run of tombstones cannot turn one page into a full-store walk. When that bound stops a
 * page early it returns fewer than `limit` entries with a cursor, which the `ScanPage` contract
 * allows ("present when more entries may follow").
 */
import type { ScanOptions, ScanPage, StoredRecord } from './engine.ts'
import { compareKeys, keySuccessor } from './keys.ts'
import { isLive } from './record-rules.ts'

/** Dead entries a single scan page may skip before it returns early with a cursor. */
export const SCAN_EXAMINED_MAX = 10_000

/** One stored entry as an engine's iterator yields it; `record` decodes lazily. */
export interface RawScanEntry {
  readonly key: string
  readonly record: () => StoredRecord
}

/** The first key a scan with these options may return (inclusive). */
export function scanStartKey(options: Pick<ScanOptions, 'prefix' | 'after'>): string {
  const prefix = options.prefix ?? ''
  if (options.after === undefined) return prefix
  const afterSuccessor = keySuccessor(options.after)
  return compareKeys(afterSuccessor, prefix) > 0 ? afterSuccessor : prefix
}

/** Builds one page from `entries`, which must be in key order and start at `scanStartKey`. */
export function collectScanPage(entries: Iterable<RawScanEntry>, options: ScanOptions): ScanPage {
  if (!Number.isInteger(options.limit) || options.limit < 1) {
    throw new RangeError(`scan limit must be an integer >= 1, got ${options.limit}`)
  }
  const prefix = options.prefix ?? ''
  const page: Array<{ key: string; record: StoredRecord }> = []
  let skippedCount = 0
  let lastExaminedKey: string | undefined
  for (const entry of entries) {
    if (!entry.key.startsWith(prefix)) return { entries: page }
    const record = entry.record()
    const isWanted = options.includeDead === true || isLive(record, options.nowMs)
    if (isWanted && page.length === options.limit) return { entries: page, cursor: lastKey(page) }
    if (isWanted) page.push({ key: entry.key, record })
    else skippedCount += 1
    lastExaminedKey = entry.key
    if (skippedCount > SCAN_EXAMINED_MAX) return { entries: page, cursor: lastExaminedKey }
  }
  return { entries: page }
}

function lastKey(page: ReadonlyArray<{ key: string }>): string | undefined {
  return page[page.length - 1]?.key
}
