/**
 * The simulated network's fault model, shared by gossip (UDP-like packets, TCP-like streams)
 * and node-to-node RPC. Per message: loss, duplication and a one-way delay of a minimum plus an
 * exponential part (so messages overtake each other: reordering); per directed link: blocked or
 * not (partitions, including asymmetric ones, are sets of blocked directed links). All draws
 * come from one forked stream of the run's seed, in event order, so a run is reproducible.
 */
import type { SeededRandom } from './memberlist-parts.ts'

/** Loss, duplication and delay of every link. */
export interface LinkQuality {
  readonly lossRate: number
  readonly duplicateRate: number
  readonly delayMinMs: number
  readonly delayMeanExtraMs: number
}

/** A healthy network: nothing lost or duplicated, sub-millisecond to a few ms of delay. */
export const CLEAN_LINK: LinkQuality = {
  lossRate: 0,
  duplicateRate: 0,
  delayMinMs: 0.5,
  delayMeanExtraMs: 1,
}

/** Link state and draws. See the module header. */
export class SimNetwork {
  quality: LinkQuality = CLEAN_LINK
  readonly #random: SeededRandom
  // Active cuts by fault id; a directed link is blocked when any active cut lists it.
  readonly #cuts = new Map<number, ReadonlySet<string>>()
  #blocked = new Set<string>()

  constructor(random: SeededRandom) {
    this.#random = random
  }

  /** True when nothing sent from `from` reaches `to` now. */
  isBlocked(from: string, to: string): boolean {
    return from !== to && this.#blocked.has(`${from}>${to}`)
  }

  /** Adds a cut: every pair (a in `fromNodes`, b in `toNodes`) is blocked from a to b. */
  cut(id: number, fromNodes: readonly string[], toNodes: readonly string[], both: boolean): void {
    const links = new Set<string>()
    for (const a of fromNodes) {
      for (const b of toNodes) {
        if (a === b) continue
        links.add(`${a}>${b}`)
        if (both) links.add(`${b}>${a}`)
      }
    }
    this.#cuts.set(id, links)
    this.#recompute()
  }

  /** Removes one cut. */
  uncut(id: number): void {
    this.#cuts.delete(id)
    this.#recompute()
  }

  /** Removes every cut. */
  healAll(): void {
    this.#cuts.clear()
    this.#recompute()
  }

  /** Whether this message is lost. */
  drops(): boolean {
    return this.quality.lossRate > 0 && this.#random.chance(this.quality.lossRate)
  }

  /** Whether this message is delivered twice. */
  duplicates(): boolean {
    return this.quality.duplicateRate > 0 && this.#random.chance(this.quality.duplicateRate)
  }

  /** One one-way delay, ms. */
  delayMs(): number {
    const { delayMinMs, delayMeanExtraMs } = this.quality
    return delayMinMs - Math.log(1 - this.#random.float()) * delayMeanExtraMs
  }

  #recompute(): void {
    this.#blocked = new Set()
    for (const links of this.#cuts.values()) for (const link of links) this.#blocked.add(link)
  }
}
