/**
 * The reaper: a small driver that keeps the store from filling with the dead. On a timer it
 * calls `Engine.purge` to remove tombstones and expired records older than the grace period, one bounded batch per run so a large backlog never blocks the event loop for
 * long (the next run follows after `intervalMs`, or immediately-ish when the last batch was full).
 *
 * Tombstone grace (architecture §4: "purged after a grace period longer than any repair
 * cycle"): a tombstone must outlive every way an older copy of the deleted value can come back
 * (a hint delivered late, a replica that was down, an anti-entropy exchange), or the value is
 * resurrected. The default is 7 days, generous against the repair schedule and long enough to
 * cover a replica that is down over a weekend; lower it only together with the node reclaim
 * time and the anti-entropy period.
 *
 * Expired records get the same grace, counted from their expiry: an expired record is a delete
 * that happened at `expiresAtMs`, and it must keep shadowing older versions of its key on other
 * replicas (one that missed the TTL put still holds the value it replaced) until anti-entropy
 * and read repair have carried it there — exactly as a tombstone does. Purged at expiry, the
 * older value became the newest record anywhere and came back to life. Anti-entropy's trees use
 * the same horizon (`replication/hash-tree.ts` `treeEntry`), so a record leaves the trees when
 * it becomes purgeable here. Reads never return an expired record meanwhile (`isLive`).
 *
 * This is a driver: it owns a real timer. The clock stays injected (`nowMs`) so tests call
 * `runOnce()` with a fake clock instead of sleeping.
 */
import type { Engine } from './engine.ts'

/** Default tombstone grace period: 7 days. */
export const TOMBSTONE_GRACE_MS_DEFAULT = 7 * 24 * 60 * 60 * 1000
/** Default pause between runs: 60 s. */
export const REAPER_INTERVAL_MS_DEFAULT = 60_000
/** Default records removed per run. */
export const REAPER_BATCH_LIMIT_DEFAULT = 1_000
/** Pause before the next run when the last batch was full (more work is waiting). */
const REAPER_BACKLOG_PAUSE_MS = 10

/** Options for {@link Reaper}. */
export interface ReaperOptions {
  readonly engine: Engine
  /** Unix-ms clock: tombstones and records expired longer ago than the grace are purged. */
  readonly nowMs: () => number
  /**
   * How long a tombstone is kept after its version's time, and an expired record after its
   * expiry. @default 7 days
   */
  readonly tombstoneGraceMs?: number
  /** Pause between runs in ms. @default 60_000 */
  readonly intervalMs?: number
  /** Most records removed by one run. @default 1000 */
  readonly batchLimit?: number
  /** Called with any error a background run throws; the reaper keeps its schedule. */
  readonly onError?: (error: unknown) => void
}

/** Purges expired records and old tombstones in the background. See the file header. */
export class Reaper {
  readonly tombstoneGraceMs: number
  readonly intervalMs: number
  readonly batchLimit: number
  readonly #engine: Engine
  readonly #nowMs: () => number
  readonly #onError: (error: unknown) => void
  #timer: ReturnType<typeof setTimeout> | undefined
  #isRunning = false
  #removedCountTotal = 0
  #errorCount = 0

  constructor(options: ReaperOptions) {
    this.#engine = options.engine
    this.#nowMs = options.nowMs
    this.#onError = options.onError ?? (() => {})
    this.tombstoneGraceMs = positive(
      options.tombstoneGraceMs,
      TOMBSTONE_GRACE_MS_DEFAULT,
      'tombstoneGraceMs',
    )
    this.intervalMs = positive(options.intervalMs, REAPER_INTERVAL_MS_DEFAULT, 'intervalMs')
    this.batchLimit = positive(options.batchLimit, REAPER_BATCH_LIMIT_DEFAULT, 'batchLimit')
  }

  /** Records removed since construction, and background runs that failed. */
  get counters(): { removedCount: number; errorCount: number } {
    return { removedCount: this.#removedCountTotal, errorCount: this.#errorCount }
  }

  /** Starts the background schedule (first run after `intervalMs`). Idempotent. */
  start(): void {
    if (this.#isRunning) return
    this.#isRunning = true
    this.#schedule(this.intervalMs)
  }

  /** Stops the schedule. A run already in progress finishes; no new run starts. */
  stop(): void {
    this.#isRunning = false
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Purges one bounded batch now; resolves to the number of records removed. */
  async runOnce(): Promise<number> {
    const horizonMs = this.#nowMs() - this.tombstoneGraceMs
    const removedCount = await this.#engine.purge({
      tombstoneBeforeMs: horizonMs,
      // "Expired at the horizon": expired longer than the grace period ago (file header).
      nowMs: horizonMs,
      limit: this.batchLimit,
    })
    this.#removedCountTotal += removedCount
    return removedCount
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => void this.#runScheduled(), delayMs)
    // A background sweep must not keep the process alive on its own.
    this.#timer.unref?.()
  }

  async #runScheduled(): Promise<void> {
    this.#timer = undefined
    let removedCount = 0
    try {
      removedCount = await this.runOnce()
    } catch (error) {
      this.#errorCount += 1
      this.#onError(error)
    }
    if (!this.#isRunning) return
    this.#schedule(removedCount >= this.batchLimit ? REAPER_BACKLOG_PAUSE_MS : this.intervalMs)
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const chosen = value ?? fallback
  if (!Number.isFinite(chosen) || chosen <= 0) {
    throw new RangeError(`Reaper: ${name} must be a positive number, got ${chosen}`)
  }
  return chosen
}
