/**
 * The rules every engine applies, as pure functions so that the engines cannot disagree:
 * last-writer-wins by version, write conditions, liveness (tombstones and expiry) and what
 * `purge` may remove. Architecture §4.
 *
 * Last-writer-wins: a write is applied only when there is no stored record or the incoming
 * version is strictly greater than the stored one (`compareVersions`). An equal version is the
 * same write delivered again (read repair, hinted handoff, a retry) and is reported `stale`, so
 * redelivery is idempotent. LWW is checked BEFORE the condition for the same reason: a
 * conditional write that was applied and is then redelivered must come back `stale`, not
 * `condition_failed`.
 *
 * Conditions (If-Match / If-None-Match: *) look at the LIVE record only: a tombstone or an
 * expired record counts as absent. Engines never read a clock, so "now" for a condition is the
 * incoming record's `version.wallMs`: the HLC time at which the coordinator issued the write.
 * That keeps the decision deterministic and identical on every replica, which a local clock
 * reading would not be.
 */
import { compareVersions } from '../hlc/version.ts'
import type { StoredRecord, WriteEntry, WriteOutcome } from './engine.ts'

/** True when `record` exists, is not a tombstone and has not expired at `nowMs`. */
export function isLive(record: StoredRecord | undefined, nowMs: number): record is StoredRecord {
  if (record === undefined || record.value === null) return false
  return record.expiresAtMs === undefined || nowMs < record.expiresAtMs
}

/** What `purge` may remove: old tombstones and records expired at `nowMs`. */
export function isPurgeable(
  record: StoredRecord,
  options: { readonly tombstoneBeforeMs: number; readonly nowMs: number },
): boolean {
  if (record.value === null && record.version.wallMs < options.tombstoneBeforeMs) return true
  return record.expiresAtMs !== undefined && record.expiresAtMs <= options.nowMs
}

/**
 * Decides one write against the currently stored record (raw: tombstones and expired records
 * included). Pure; the engine performs the write when the outcome is `applied`.
 * A failed condition reports the live record (undefined when there is none), since that is what
 * the condition was evaluated against.
 */
export function decideWrite(current: StoredRecord | undefined, entry: WriteEntry): WriteOutcome {
  if (current !== undefined && compareVersions(entry.record.version, current.version) <= 0) {
    return { status: 'stale', current }
  }
  const condition = entry.condition
  if (condition !== undefined) {
    const live = isLive(current, entry.record.version.wallMs) ? current : undefined
    const holds =
      condition.kind === 'absent'
        ? live === undefined
        : live !== undefined && compareVersions(live.version, condition.version) === 0
    if (!holds) return { status: 'condition_failed', current: live }
  }
  return { status: 'applied', previous: current }
}
