/**
 * Read repair (architecture §6; Dynamo, DeCandia et al. 2007, §4.7 / §5): the replies of a read
 * already tell the coordinator which replicas hold an older version of the key, so it sends
 * them the newest record. Last-writer-wins by version makes the repair safe to send at any time
 * and any number of times: a replica that meanwhile got something newer ignores it.
 *
 * Rules:
 * - The newest record is the one with the greatest version among the replies, tombstones
 *   included (a delete is a write).
 * - A replica that answered with an older version is stale and gets the newest record.
 * - A replica that answered "no record" gets the newest record only when it is not a
 *   tombstone: "absent" already reads as "deleted", and a tombstone may be old enough that
 *   other replicas have purged it; re-creating it everywhere would only delay its purge.
 * Pure functions; the read coordinator calls them, also for replies that arrive after the read
 * has been answered.
 */
import { compareVersions } from '../hlc/version.ts'
import type { StoredRecord } from '../storage/engine.ts'

/** One replica's answer to a read. */
export interface ReadReply {
  readonly node: string
  readonly record: StoredRecord | undefined
}

/** A replica to repair and the record to send it. */
export interface RepairTarget {
  readonly node: string
  readonly record: StoredRecord
}

/** The record with the greatest version among the replies (undefined when none has one). */
export function newestRecord(replies: readonly ReadReply[]): StoredRecord | undefined {
  let newest: StoredRecord | undefined
  for (const reply of replies) {
    if (reply.record === undefined) continue
    if (newest === undefined || compareVersions(reply.record.version, newest.version) > 0) {
      newest = reply.record
    }
  }
  return newest
}

/** True when a replica that answered `record` should be sent `newest`. */
export function isStale(record: StoredRecord | undefined, newest: StoredRecord): boolean {
  if (record === undefined) return newest.value !== null
  return compareVersions(record.version, newest.version) < 0
}

/** The replicas among `replies` that are stale, each with the newest record to send. */
export function planReadRepair(replies: readonly ReadReply[]): RepairTarget[] {
  const newest = newestRecord(replies)
  if (newest === undefined) return []
  return replies
    .filter((reply) => isStale(reply.record, newest))
    .map((reply) => ({ node: reply.node, record: newest }))
}
