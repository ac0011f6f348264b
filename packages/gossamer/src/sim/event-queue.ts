/**
 * The simulator's clock and agenda: a discrete-event queue ordered by (virtual time, insertion
 * sequence). Two events due at the same millisecond fire in the order they were scheduled, so a
 * run depends only on the seed, never on heap internals or host timing (house style: timers as
 * values, one seed reproduces a whole cluster run; TigerBeetle `src/testing/time.zig`).
 *
 * Nothing here reads real time. `runUntil` jumps from event to event; every run is bounded by an
 * event budget so a livelocked cluster fails loudly instead of spinning.
 */

/** A scheduled callback. */
interface Scheduled {
  readonly atMs: number
  readonly seq: number
  readonly fire: () => void
}

/** Thrown when a run processes more events than its budget (a livelock, or a budget too small). */
export class EventBudgetExceededError extends Error {
  readonly code = 'GOSSAMER_SIM_EVENT_BUDGET'
  constructor(budget: number, nowMs: number) {
    super(`simulation processed more than ${budget} events by ${nowMs} ms (virtual)`)
    this.name = 'EventBudgetExceededError'
  }
}

/** A binary min-heap of events with a virtual clock. */
export class EventQueue {
  #nowMs = 0
  #seq = 0
  readonly #heap: Scheduled[] = []
  /** Events fired so far (for summaries). */
  firedCount = 0

  /** Current virtual time in milliseconds (monotonic, starts at 0). */
  get nowMs(): number {
    return this.#nowMs
  }

  /** Events waiting. */
  get size(): number {
    return this.#heap.length
  }

  /** Schedules `fire` at `atMs` (clamped to now: the past cannot be scheduled). */
  at(atMs: number, fire: () => void): void {
    const event = { atMs: Math.max(atMs, this.#nowMs), seq: this.#seq++, fire }
    this.#heap.push(event)
    this.#up(this.#heap.length - 1)
  }

  /** Schedules `fire` after `delayMs`. */
  after(delayMs: number, fire: () => void): void {
    this.at(this.#nowMs + delayMs, fire)
  }

  /**
   * Fires events in order until `endMs` (inclusive) or until `done()` holds (checked after
   * each event). Time then stands at `endMs` unless `done` stopped it earlier.
   */
  runUntil(endMs: number, budget: number, done: () => boolean = () => false): boolean {
    for (let fired = 0; ; fired++) {
      const next = this.#heap[0]
      if (next === undefined || next.atMs > endMs) break
      if (fired >= budget) throw new EventBudgetExceededError(budget, this.#nowMs)
      this.#pop()
      this.#nowMs = next.atMs
      this.firedCount++
      next.fire()
      if (done()) return true
    }
    this.#nowMs = Math.max(this.#nowMs, endMs)
    return done()
  }

  #less(a: Scheduled, b: Scheduled): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
  }

  #up(index: number): void {
    const heap = this.#heap
    let i = index
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  #pop(): void {
    const heap = this.#heap
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right
      if (smallest === i) return
      ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
      i = smallest
    }
  }
}
