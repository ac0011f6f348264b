/**
 * Lifeguard suspicion with independent confirmations ("dogpile", reference §6.4, memberlist
 * `suspicion.go`). A suspicion starts at the max timeout when confirmations are wanted (k >= 1),
 * else at the min. Each new accuser other than the first shortens the total timeout
 * logarithmically towards min; at most k confirmations count. This class holds the state and
 * computes deadlines; the core owns the timer that fires `deadlineMs`.
 */

import { remainingSuspicionMs } from './formulas.ts'

/** One node's suspicion: accusers seen and the current deadline. */
export class Suspicion {
  /** Confirmations wanted (k). */
  readonly wanted: number
  readonly minMs: number
  readonly maxMs: number
  readonly startMs: number
  readonly #accusers = new Set<string>()
  #confirmations = 0
  #deadlineMs: number

  constructor(options: {
    from: string
    wanted: number
    minMs: number
    maxMs: number
    startMs: number
  }) {
    this.wanted = options.wanted
    this.minMs = options.minMs
    this.maxMs = options.maxMs
    this.startMs = options.startMs
    // The first accuser never counts as a confirmation.
    this.#accusers.add(options.from)
    const initialMs = this.wanted < 1 ? this.minMs : this.maxMs
    this.#deadlineMs = this.startMs + initialMs
  }

  /** Confirmations counted so far. */
  get confirmations(): number {
    return this.#confirmations
  }

  /** When the node should be declared dead. */
  get deadlineMs(): number {
    return this.#deadlineMs
  }

  /**
   * Records an accusation from `from` at `nowMs`. Returns true if it was a new confirmation
   * (then the caller re-gossips the suspect message and re-arms its timer at `deadlineMs`,
   * firing at once if the deadline has passed).
   */
  confirm(from: string, nowMs: number): boolean {
    if (this.#confirmations >= this.wanted) return false
    if (this.#accusers.has(from)) return false
    this.#accusers.add(from)
    this.#confirmations++
    const elapsedMs = nowMs - this.startMs
    const remainingMs = remainingSuspicionMs({
      confirmations: this.#confirmations,
      wanted: this.wanted,
      elapsedMs,
      minMs: this.minMs,
      maxMs: this.maxMs,
    })
    this.#deadlineMs = nowMs + Math.max(0, remainingMs)
    return true
  }
}
