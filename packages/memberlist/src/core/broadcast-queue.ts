/**
 * The transmit-limited broadcast queue (reference §6.6, memberlist `queue.go`). Each queued
 * broadcast is piggy-backed on outgoing packets at most retransmitMult × ceil(log10(n + 1))
 * times. Picks go by fewest transmits first, then largest message, then newest, taking every
 * item that still fits the remaining bytes. A broadcast with a name replaces any queued one
 * with the same name (memberlist names its own broadcasts by node, so news about a node
 * invalidates older news about it). The queue is bounded: on overflow the most-transmitted
 * items are dropped, as memberlist's `Prune` does.
 */

import { retransmitLimit } from './formulas.ts'

/** One broadcast to queue. */
export interface Broadcast<T> {
  /** Invalidation key: a newer broadcast with the same name replaces this one. */
  readonly name?: string | undefined
  readonly payload: T
  /** Encoded size, for ordering and for the packet budget. */
  readonly sizeBytes: number
  /** Called once when the broadcast reaches its transmit limit, is replaced or is dropped. */
  readonly onFinished?: (() => void) | undefined
}

interface Item<T> {
  readonly broadcast: Broadcast<T>
  readonly id: number
  transmits: number
}

/** Options of a {@link BroadcastQueue}. */
export interface BroadcastQueueOptions {
  /** RetransmitMult from the config. */
  readonly retransmitMult: number
  /** Current cluster size estimate (called at every take). */
  readonly nodeCount: () => number
  /** Bound on queued items. */
  readonly maxItems: number
}

/** A transmit-limited queue of broadcasts, usable for memberlist's and the application's. */
export class BroadcastQueue<T> {
  readonly #options: BroadcastQueueOptions
  #items: Item<T>[] = []
  #nextId = 0

  constructor(options: BroadcastQueueOptions) {
    this.#options = options
  }

  /** Number of queued broadcasts. */
  get length(): number {
    return this.#items.length
  }

  /** Queues `broadcast`, replacing a queued one with the same name. */
  queue(broadcast: Broadcast<T>): void {
    if (broadcast.name !== undefined) {
      const kept: Item<T>[] = []
      for (const item of this.#items) {
        if (item.broadcast.name === broadcast.name) item.broadcast.onFinished?.()
        else kept.push(item)
      }
      this.#items = kept
    }
    this.#items.push({ broadcast, id: this.#nextId++, transmits: 0 })
    this.#sort()
    this.#prune(this.#options.maxItems)
  }

  /**
   * Takes broadcasts that fit in `limitBytes`, each costing `overheadBytes` plus its size, and
   * counts one transmit for each. Items reaching the transmit limit are removed and finished.
   */
  take(overheadBytes: number, limitBytes: number): T[] {
    const limit = retransmitLimit(this.#options.retransmitMult, this.#options.nodeCount())
    const taken: T[] = []
    let usedBytes = 0
    const finished: Item<T>[] = []
    for (const item of this.#items) {
      const freeBytes = limitBytes - usedBytes - overheadBytes
      if (freeBytes <= 0) break
      if (item.broadcast.sizeBytes > freeBytes) continue
      usedBytes += overheadBytes + item.broadcast.sizeBytes
      taken.push(item.broadcast.payload)
      item.transmits++
      if (item.transmits >= limit) finished.push(item)
    }
    if (taken.length === 0) return taken
    if (finished.length > 0) {
      const done = new Set(finished)
      this.#items = this.#items.filter((item) => !done.has(item))
      for (const item of finished) item.broadcast.onFinished?.()
    }
    this.#sort()
    return taken
  }

  /** Drops every queued broadcast (finishing each). */
  reset(): void {
    const items = this.#items
    this.#items = []
    for (const item of items) item.broadcast.onFinished?.()
  }

  /** Keeps at most `maxItems`, dropping those sent most (the tail of the order). */
  #prune(maxItems: number): void {
    if (this.#items.length <= maxItems) return
    const dropped = this.#items.splice(maxItems)
    for (const item of dropped) item.broadcast.onFinished?.()
  }

  #sort(): void {
    this.#items.sort(
      (a, b) =>
        a.transmits - b.transmits || b.broadcast.sizeBytes - a.broadcast.sizeBytes || b.id - a.id,
    )
  }
}
