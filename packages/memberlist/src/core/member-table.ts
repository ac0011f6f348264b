/**
 * The node table (reference §6.1): every known node by name, plus the probe order that the
 * round-robin prober walks. New nodes go in at a random position; when the prober wraps, dead
 * and left nodes older than GossipToTheDeadTime are reaped and the order is shuffled (§6.2).
 * Random peer selection follows memberlist's `kRandomNodes` (bounded random draws; small
 * tables are shuffled so every eligible node can be chosen, as in v0.6).
 */

import type { NodeInfo, NodeStateName, Random } from './ports.ts'

/** One entry of the table. Mutated only by the state transitions in `transitions.ts`. */
export interface MemberRecord {
  readonly name: string
  addr: Uint8Array
  port: number
  meta: Uint8Array
  /** Always 6 bytes: [pMin, pMax, pCur, dMin, dMax, dCur]; zeros when unknown. */
  vsn: Uint8Array
  /** Invariant: only increases, except when a reclaimed address resets it. */
  incarnation: number
  state: NodeStateName
  stateChangeMs: number
}

/** True for dead and left nodes. */
export function isDeadOrLeft(record: MemberRecord): boolean {
  return record.state === 'dead' || record.state === 'left'
}

/** An immutable snapshot of a record for events and queries. */
export function toNodeInfo(record: MemberRecord): NodeInfo {
  const v = record.vsn
  return {
    name: record.name,
    addr: record.addr.slice(),
    port: record.port,
    meta: record.meta.slice(),
    incarnation: record.incarnation,
    state: record.state,
    vsn: [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0, v[3] ?? 0, v[4] ?? 0, v[5] ?? 0],
  }
}

/** Name-indexed node table with a probe order. */
export class MemberTable {
  readonly #byName = new Map<string, MemberRecord>()
  #order: MemberRecord[] = []
  #probeIndex = 0

  /** Number of entries, dead and left included (memberlist's estNumNodes). */
  get size(): number {
    return this.#order.length
  }

  /** The entry for `name`. */
  get(name: string): MemberRecord | undefined {
    return this.#byName.get(name)
  }

  /** Entries in probe order. Do not mutate the array. */
  all(): readonly MemberRecord[] {
    return this.#order
  }

  /** Adds a new entry at a random position (swap with the end, as Go does). */
  insert(record: MemberRecord, random: Random): void {
    if (this.#byName.has(record.name)) throw new Error(`duplicate node ${record.name}`)
    this.#byName.set(record.name, record)
    const n = this.#order.length
    const offset = n === 0 ? 0 : random.intBelow(n + 1)
    this.#order.push(record)
    const displaced = this.#order[offset]!
    this.#order[offset] = record
    this.#order[n] = displaced
  }

  /**
   * The next node to probe, skipping `selfName` and dead/left nodes. On wrapping, reaps and
   * shuffles via `onWrap`. Returns undefined when nothing is probeable.
   */
  nextProbeTarget(selfName: string, onWrap: () => void): MemberRecord | undefined {
    let checked = 0
    // Bounded: at most two passes over the table plus a few wraps.
    for (let step = 0; step < 2 * this.#order.length + 4; step++) {
      if (checked >= this.#order.length) return undefined
      if (this.#probeIndex >= this.#order.length) {
        onWrap()
        this.#probeIndex = 0
        checked++
        continue
      }
      const record = this.#order[this.#probeIndex++]!
      if (record.name === selfName || isDeadOrLeft(record)) {
        checked++
        continue
      }
      return record
    }
    return undefined
  }

  /** Removes dead/left nodes whose state changed more than `retainMs` ago; then shuffles. */
  reapAndShuffle(options: { nowMs: number; retainMs: number; random: Random }): MemberRecord[] {
    const kept: MemberRecord[] = []
    const reaped: MemberRecord[] = []
    for (const record of this.#order) {
      const expired =
        isDeadOrLeft(record) && options.nowMs - record.stateChangeMs > options.retainMs
      if (expired) reaped.push(record)
      else kept.push(record)
    }
    for (const record of reaped) this.#byName.delete(record.name)
    options.random.shuffle(kept)
    this.#order = kept
    return reaped
  }

  /**
   * Up to `k` distinct random entries not excluded. Large tables use memberlist's bounded random
   * draws (3n attempts); small ones (n <= 3k) shuffle the eligible set so none is missed.
   */
  randomNodes(k: number, random: Random, exclude: (r: MemberRecord) => boolean): MemberRecord[] {
    const n = this.#order.length
    if (k <= 0 || n === 0) return []
    if (n <= 3 * k) {
      const eligible = this.#order.filter((r) => !exclude(r))
      random.shuffle(eligible)
      return eligible.slice(0, k)
    }
    const chosen: MemberRecord[] = []
    for (let i = 0; i < 3 * n && chosen.length < k; i++) {
      const record = this.#order[random.intBelow(n)]!
      if (exclude(record) || chosen.includes(record)) continue
      chosen.push(record)
    }
    return chosen
  }
}
