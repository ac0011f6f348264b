/**
 * Timers as values: a min-heap of deadlines ordered by (deadline, insertion sequence) so that
 * equal deadlines fire in a total, reproducible order. The core never sets real timers; the
 * driver asks `nextDeadlineMs()` and calls `tick()` (reference: house style B4).
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface TimerHandle {
  readonly deadlineMs: number
  cancel(): void
  readonly isActive: boolean
}

interface Entry {
  deadlineMs: number
  seq: number
  fn: () => void
  active: boolean
}

/** Upper bound on callbacks run by one `fireDue` call (a guard against runaway rescheduling). */
const FIRE_MAX_PER_CALL = 1_000_000

/** A deterministic timer queue. */
export class TimerQueue {
  readonly #heap: Entry[] = []
  #seq = 0
  #activeCount = 0

  /** Schedules `fn` at `deadlineMs`. */
  schedule(deadlineMs: number, fn: () => void): TimerHandle {
    const entry: Entry = { deadlineMs, seq: this.#seq++, fn, active: true }
    this.#push(entry)
    this.#activeCount++
    const queue = this
    return {
      deadlineMs,
      cancel() {
        if (!entry.active) return
        entry.active = false
        queue.#activeCount--
      },
      get isActive() {
        return entry.active
      },
    }
  }

  /** Number of active timers. */
  get size(): number {
    return this.#activeCount
  }

  /** Earliest active deadline. */
  nextDeadlineMs(): number | undefined {
    this.#dropInactiveTop()
    return this.#heap[0]?.deadlineMs
  }

  /** Runs every active timer with deadline <= nowMs, earliest first (including new ones due). */
  fireDue(nowMs: number): void {
    for (let fired = 0; fired < FIRE_MAX_PER_CALL; fired++) {
      this.#dropInactiveTop()
      const top = this.#heap[0]
      if (top === undefined || top.deadlineMs > nowMs) return
      this.#pop()
      top.active = false
      this.#activeCount--
      top.fn()
    }
  }

  /** Cancels everything. */
  clear(): void {
    for (const entry of this.#heap) entry.active = false
    this.#heap.length = 0
    this.#activeCount = 0
  }

  #dropInactiveTop(): void {
    while (this.#heap.length > 0 && !this.#heap[0]!.active) this.#pop()
  }

  #less(a: Entry, b: Entry): boolean {
    return a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.seq < b.seq)
  }

  #push(entry: Entry): void {
    const heap = this.#heap
    heap.push(entry)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  #pop(): void {
    const heap = this.#heap
    const last = heap.pop()
    if (last === undefined || heap.length === 0) return
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
