/**
 * Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks and Consistent Snapshots in
 * Globally Distributed Databases", 2014, §3 algorithm "HLC"). A timestamp is the pair
 * (wallMs, logical): `wallMs` follows the largest physical time the node has seen, its own wall
 * clock or a remote timestamp, and `logical` counts events that happen while `wallMs` does not
 * move. The node id (architecture §4) breaks ties, so every issued version is unique.
 *
 * Guarantees: every `now()` is strictly greater than every version this clock issued or observed
 * before, even when the wall clock jumps backwards (it then keeps the old `wallMs` and counts up
 * `logical`). `observe()` refuses remote timestamps further ahead of the local wall clock than
 * `maxSkewMs`, so one node with a broken clock cannot drag every other node's versions into the
 * future (the paper's bound ε on clock drift). When `logical` would exceed 0xffff_ffff, `wallMs`
 * advances by one millisecond instead, which keeps the order and never wraps.
 *
 * Sans-I/O: the wall clock is injected; this file never reads real time.
 */
import { GossamerError } from '../errors.ts'
import { isValidVersion, VERSION_LOGICAL_MAX, type Version } from './version.ts'

/** Default bound on how far a remote version may be ahead of the local wall clock. */
export const HLC_MAX_SKEW_MS_DEFAULT = 60_000

/** Options for {@link HybridLogicalClock}. */
export interface HybridLogicalClockOptions {
  /** This node's id, stamped on every version it issues (the tie-break). */
  readonly nodeId: string
  /** The local wall clock in Unix milliseconds. May jump, forwards or backwards. */
  readonly wallClockMs: () => number
  /**
   * Largest amount by which an observed version's `wallMs` may be ahead of the local wall clock.
   * @default 60_000
   */
  readonly maxSkewMs?: number
}

/**
 * Thrown by {@link HybridLogicalClock.observe} when a remote version is too far in the future.
 * The clock is left unchanged.
 */
export class HlcSkewError extends GossamerError {
  /** The remote version's wall time, Unix ms. */
  readonly remoteWallMs: number
  /** The local wall clock reading it was compared with, Unix ms. */
  readonly localWallMs: number
  /** The configured limit. */
  readonly maxSkewMs: number

  constructor(options: { remoteWallMs: number; localWallMs: number; maxSkewMs: number }) {
    const aheadMs = options.remoteWallMs - options.localWallMs
    super(
      'GOSSAMER_ERR_CLOCK_SKEW',
      `remote version time ${options.remoteWallMs} is ${aheadMs} ms ahead of the local wall ` +
        `clock ${options.localWallMs}, more than the allowed maxSkewMs ${options.maxSkewMs}`,
    )
    this.name = 'HlcSkewError'
    this.remoteWallMs = options.remoteWallMs
    this.localWallMs = options.localWallMs
    this.maxSkewMs = options.maxSkewMs
  }
}

/** A hybrid logical clock for one node. See the file header for the guarantees. */
export class HybridLogicalClock {
  readonly nodeId: string
  readonly maxSkewMs: number
  readonly #wallClockMs: () => number
  // Invariant: (#lastWallMs, #lastLogical) only increases; it is the largest timestamp issued
  // or observed so far.
  #lastWallMs = 0
  #lastLogical = 0

  constructor(options: HybridLogicalClockOptions) {
    if (typeof options.nodeId !== 'string' || options.nodeId.length === 0) {
      throw new RangeError('HybridLogicalClock: nodeId must be a non-empty string')
    }
    const maxSkewMs = options.maxSkewMs ?? HLC_MAX_SKEW_MS_DEFAULT
    if (!Number.isFinite(maxSkewMs) || maxSkewMs < 0) {
      throw new RangeError(`HybridLogicalClock: maxSkewMs must be >= 0, got ${maxSkewMs}`)
    }
    this.nodeId = options.nodeId
    this.maxSkewMs = maxSkewMs
    this.#wallClockMs = options.wallClockMs
  }

  /** Issues a new version, strictly greater than every version issued or observed before. */
  now(): Version {
    const physicalMs = this.#readWallClockMs()
    if (physicalMs > this.#lastWallMs) {
      this.#lastWallMs = physicalMs
      this.#lastLogical = 0
    } else if (this.#lastLogical < VERSION_LOGICAL_MAX) {
      this.#lastLogical += 1
    } else {
      // NB: counter exhausted within one millisecond; borrow the next millisecond rather than
      // wrap, so the order still holds. The wall clock catches up soon after.
      this.#lastWallMs += 1
      this.#lastLogical = 0
    }
    return { wallMs: this.#lastWallMs, logical: this.#lastLogical, nodeId: this.nodeId }
  }

  /**
   * Merges a remote version so that every later `now()` is greater than it.
   * @throws HlcSkewError when `remote.wallMs` is more than `maxSkewMs` ahead of the local wall
   *   clock; the clock is not moved.
   * @throws RangeError when `remote` is not a well-formed version.
   */
  observe(remote: Version): void {
    if (!isValidVersion(remote)) {
      throw new RangeError(`HybridLogicalClock: malformed version ${JSON.stringify(remote)}`)
    }
    const localWallMs = this.#readWallClockMs()
    if (remote.wallMs - localWallMs > this.maxSkewMs) {
      throw new HlcSkewError({
        remoteWallMs: remote.wallMs,
        localWallMs,
        maxSkewMs: this.maxSkewMs,
      })
    }
    const isAhead =
      remote.wallMs > this.#lastWallMs ||
      (remote.wallMs === this.#lastWallMs && remote.logical > this.#lastLogical)
    if (isAhead) {
      this.#lastWallMs = remote.wallMs
      this.#lastLogical = remote.logical
    }
  }

  /** The largest timestamp issued or observed so far (for diagnostics and persistence). */
  peek(): Version {
    return { wallMs: this.#lastWallMs, logical: this.#lastLogical, nodeId: this.nodeId }
  }

  #readWallClockMs(): number {
    const wallMs = this.#wallClockMs()
    if (!Number.isFinite(wallMs)) {
      throw new RangeError(`HybridLogicalClock: wall clock returned ${wallMs}`)
    }
    // Sub-millisecond clocks are truncated; negative readings count as the epoch.
    return Math.max(0, Math.floor(wallMs))
  }
}
