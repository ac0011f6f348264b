/**
 * Simulated clients: each one issues one operation at a time (put, get or delete on a small
 * key space, so clients contend) through a random ready node, and records it in a `History`
 * (invocation, then completion) for the checker, exactly as the multi-process reliability
 * workload records HTTP calls. Outcomes: a coordinator's success is `ok`; its failure is
 * `unknown` (a write that missed its quorum may still have landed); a request the coordinator
 * never answers (it crashed) is completed `unknown` by the client's own timeout.
 */
import { formatVersion } from '../hlc/version.ts'
import type { Consistency } from '../replication/consistency.ts'
import type { ReadResult, WriteResult } from '../replication/coordinator.ts'
import { History, type OperationKind } from '../testing/history/history.ts'
import type { EventQueue } from './event-queue.ts'
import type { SeededRandom } from './memberlist-parts.ts'
import type { SimOptions } from './options.ts'
import type { SimNode } from './sim-node.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The clients of one run. */
export class Workload {
  readonly history: History
  readonly keys: string[]
  /** Operations in flight. */
  inFlight = 0
  readonly #options: SimOptions
  readonly #queue: EventQueue
  readonly #random: SeededRandom
  readonly #nodes: readonly SimNode[]
  readonly #log: (line: string) => void
  #isRunning = false
  #nextValue = 0

  constructor(input: {
    options: SimOptions
    queue: EventQueue
    random: SeededRandom
    nodes: readonly SimNode[]
    log: (line: string) => void
  }) {
    this.#options = input.options
    this.#queue = input.queue
    this.#random = input.random
    this.#nodes = input.nodes
    this.#log = input.log
    this.history = new History({ nowMs: () => input.queue.nowMs })
    this.keys = Array.from({ length: input.options.keyCount }, (_, i) => `k${i}`)
  }

  /** Starts every client. */
  start(): void {
    this.#isRunning = true
    for (let client = 0; client < this.#options.clientCount; client++) this.#next(client)
  }

  /** No new operations; those in flight still complete. */
  stop(): void {
    this.#isRunning = false
  }

  #next(client: number): void {
    const thinkMs = -Math.log(1 - this.#random.float()) * this.#options.thinkMeanMs
    this.#queue.after(thinkMs, () => {
      if (!this.#isRunning) return
      const ready = this.#nodes.filter((n) => n.isReady)
      if (ready.length === 0) return this.#next(client)
      const node = ready[this.#random.intBelow(ready.length)]!
      this.#issue(client, node)
    })
  }

  #issue(client: number, node: SimNode): void {
    const roll = this.#random.float()
    const kind: OperationKind = roll < 0.5 ? 'put' : roll < 0.85 ? 'get' : 'delete'
    const key = this.keys[this.#random.intBelow(this.keys.length)]!
    const consistency: Consistency = this.#random.chance(this.#options.weakFraction)
      ? this.#random.chance(0.5)
        ? 'one'
        : 'all'
      : 'quorum'
    const value = kind === 'put' ? `c${client}-${this.#nextValue++}` : undefined
    const id = this.history.invoke({ client, node: node.name, kind, key, value, consistency })
    this.#log(
      `op#${id} invoke c${client} ${kind} ${key}${value === undefined ? '' : `=${value}`} ${consistency} via ${node.name}`,
    )
    this.inFlight++
    let isDone = false
    const finish = (completion: Parameters<History['complete']>[1]) => {
      if (isDone) return
      isDone = true
      this.inFlight--
      this.history.complete(id, completion)
      const detail = completion.version ?? completion.error ?? ''
      this.#log(
        `op#${id} ${completion.outcome} ${completion.found === false ? 'not-found ' : ''}${detail}`,
      )
      this.#next(client)
    }
    // A coordinator that crashes never answers: the client gives up (outcome unknown).
    this.#queue.after(3 * this.#options.requestTimeoutMs, () =>
      finish({ outcome: 'unknown', error: 'client timeout' }),
    )
    if (kind === 'get') {
      node.read({ key, r: consistency }, (result) => finish(readCompletion(result)))
    } else {
      const bytes = value === undefined ? null : encoder.encode(value)
      node.write({ key, value: bytes, w: consistency }, (result) => finish(writeCompletion(result)))
    }
  }
}

function writeCompletion(result: WriteResult): Parameters<History['complete']>[1] {
  if (result.ok) return { outcome: 'ok', version: formatVersion(result.version) }
  return { outcome: 'unknown', error: result.error.code }
}

function readCompletion(result: ReadResult): Parameters<History['complete']>[1] {
  if (!result.ok) return { outcome: 'unknown', error: result.error.code }
  const record = result.record
  if (record === undefined || record.value === null) return { outcome: 'ok', found: false }
  return {
    outcome: 'ok',
    found: true,
    readValue: decoder.decode(record.value),
    version: formatVersion(record.version),
  }
}
