/**
 * Lifeguard local health awareness (reference §6.5, memberlist `awareness.go`). The score
 * rises when our own probes fail or nacks go missing and when we must refute, and falls with
 * every successful probe; it stretches the probe interval so a slow or overloaded node probes
 * (and so accuses) less often.
 */

import { awarenessScaleMs } from './formulas.ts'

/** A bounded health score in [0, max − 1]; 0 is healthy. */
export class Awareness {
  readonly #max: number
  #score = 0

  /** @param max AwarenessMaxMultiplier (8 in every preset). */
  constructor(max: number) {
    this.#max = max
  }

  /** Adds `delta` and clamps to [0, max − 1]. Returns the new score. */
  applyDelta(delta: number): number {
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta))
    return this.#score
  }

  /** The current score. */
  get score(): number {
    return this.#score
  }

  /** `timeoutMs` × (score + 1). */
  scaleMs(timeoutMs: number): number {
    return awarenessScaleMs(timeoutMs, this.#score)
  }
}
