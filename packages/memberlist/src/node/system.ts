/**
 * The real-world implementations of the core's Clock and Random ports: a monotonic clock from
 * `performance.now()` and randomness from `node:crypto`. Only drivers import this file; the
 * core never reads time or randomness except through these ports.
 */

import { randomBytes, randomInt } from 'node:crypto'
import type { Clock, Random } from '../core/ports.ts'

/** Monotonic milliseconds since process start (never decreases, unaffected by wall-clock jumps). */
export const systemClock: Clock = {
  nowMs: () => performance.now(),
}

/** Cryptographically strong randomness (also used for AES-GCM nonces). */
export const cryptoRandom: Random = {
  // randomInt allows a range below 2^48; dividing by 2^48 keeps the result in [0, 1).
  float: () => randomInt(0, 2 ** 48 - 1) / 2 ** 48,
  intBelow: (n: number) => (n <= 1 ? 0 : randomInt(0, n)),
  shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = randomInt(0, i + 1)
      const tmp = items[i]!
      items[i] = items[j]!
      items[j] = tmp
    }
  },
}

/** `n` random bytes for nonces. */
export function cryptoRandomBytes(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n))
}
