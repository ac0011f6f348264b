/**
 * A seeded pseudo-random generator (sfc32, seeded through splitmix32 from a string) that
 * implements the core's `Random` port. `fork(label)` derives an independent stream from the
 * root seed and the label alone, so adding draws in one component never reshuffles another
 * (TigerBeetle-style per-subsystem seeds). Not for cryptography.
 */

import type { Random } from '../core/ports.ts'

function hashString(text: string): number {
  // FNV-1a, 32-bit.
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0
  let z = state.s
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/** A reproducible Random from a seed; see the module header. */
export class SeededRandom implements Random {
  /** The seed path this stream was derived from (printed to reproduce a run). */
  readonly seed: string
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: string | number) {
    this.seed = String(seed)
    const state = { s: hashString(this.seed) }
    this.#a = splitmix32(state)
    this.#b = splitmix32(state)
    this.#c = splitmix32(state)
    this.#d = splitmix32(state) | 1
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** Uniform in [0, 2^32). */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0
    this.#d = (this.#d + 1) >>> 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) >>> 0
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0
    this.#c = (this.#c + t) >>> 0
    return t
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  intBelow(n: number): number {
    if (!(n >= 1)) throw new RangeError(`intBelow(${n})`)
    return Math.floor(this.float() * n)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.intBelow(i + 1)
      const tmp = items[i]!
      items[i] = items[j]!
      items[j] = tmp
    }
  }

  /** An independent stream derived from this stream's seed and `label`. */
  fork(label: string): SeededRandom {
    return new SeededRandom(`${this.seed}/${label}`)
  }
}
