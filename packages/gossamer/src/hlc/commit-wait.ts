/**
 * Commit wait: how long a coordinator holds a write's acknowledgement so that every write
 * invoked after the acknowledgement, through any node reading the same clock, gets a larger
 * version.
 *
 * Versions carry whole milliseconds (`wallMs`), and two coordinators that have not exchanged a
 * version yet break a tie inside one millisecond by node id. So without a wait, a put
 * acknowledged at 19338.3 ms with version `19338-0-n4` and a delete invoked after it, at
 * 19338.7 ms through n1, can both be stamped in millisecond 19338, and the delete orders
 * before the put it followed: it is acknowledged (its replicas answer `stale`), and the deleted
 * value comes back (found by the whole-cluster simulator, swarm seed 11132). Holding the
 * acknowledgement until the wall clock has passed the version's millisecond closes that: a
 * write invoked afterwards reads a wall clock of at least `wallMs + 1`, so its version is
 * larger. This is Spanner's commit wait with an uncertainty of one clock tick; like any
 * ordering by clocks it holds for clocks that agree (nodes on one host, or synchronised ones),
 * and under skew ordering falls back to versions alone (docs/cluster.md, "Clock skew").
 *
 * The wait is usually zero: a durable or replicated write takes longer than the rest of its
 * millisecond. A node that is the cluster's only owner does not wait at all
 * (`isOnlyCoordinator`): every write goes through its one HLC, whose versions only increase, and
 * another node coordinates only after joining and merging the ownership set, much later than a
 * millisecond. (A single node answering one client at a time would otherwise wait on most
 * writes.) It is capped, so a clock the HLC has been dragged ahead of (a remote version
 * within the skew bound) delays acknowledgements by at most `COMMIT_WAIT_MAX_MS`.
 *
 * Sans-I/O: a pure function of the version and a clock reading; drivers own the timer.
 */

/** Longest commit wait, in ms. */
export const COMMIT_WAIT_MAX_MS = 5

/**
 * Milliseconds to hold the acknowledgement of a write stamped in millisecond `versionWallMs`,
 * given the wall clock now (Unix ms, may be fractional): 0 once the clock has reached
 * `versionWallMs + 1`, else the rest of the way there, at most `maxMs`.
 */
export function commitWaitMs(
  versionWallMs: number,
  nowMs: number,
  maxMs = COMMIT_WAIT_MAX_MS,
): number {
  const remaining = versionWallMs + 1 - nowMs
  if (!(remaining > 0)) return 0
  return Math.min(remaining, maxMs)
}

/**
 * True when `self` is the only owner: no other node coordinates writes, so acknowledgements need
 * no commit wait.
 */
export function isOnlyCoordinator(owners: readonly string[], self: string): boolean {
  return owners.length === 1 && owners[0] === self
}
