/**
 * Which nodes to push/pull ownership state with before a refused request is retried
 * (`replication/coordinator.ts` `refusalRetryDelayMs`): the runtime's `Membership.syncWith` and
 * the simulator's node both choose with this. Only live nodes (alive or suspect: views that
 * differ, not dead nodes to find again, which the reconnect does), never `self`, and each node
 * at most once per `OWNERSHIP_SYNC_MIN_INTERVAL_MS`. Deterministic: the clock is passed in, and
 * `lastSyncMs` is the caller's record of the last sync per node, updated for the chosen ones.
 */

/** Least pause between two ownership syncs with one node. */
export const OWNERSHIP_SYNC_MIN_INTERVAL_MS = 1_000

/** The nodes of `candidates` to sync with now, in their order; records them in `lastSyncMs`. */
export function ownershipSyncTargets(input: {
  readonly self: string
  readonly candidates: readonly string[]
  readonly isLive: (node: string) => boolean
  readonly lastSyncMs: Map<string, number>
  readonly nowMs: number
}): string[] {
  const { lastSyncMs, nowMs } = input
  const targets = input.candidates.filter(
    (node) =>
      node !== input.self &&
      input.isLive(node) &&
      nowMs - (lastSyncMs.get(node) ?? -Infinity) >= OWNERSHIP_SYNC_MIN_INTERVAL_MS,
  )
  for (const node of targets) lastSyncMs.set(node, nowMs)
  return targets
}
