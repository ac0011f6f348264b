/**
 * Simulated clients: each one issues one operation at a time (put, get or delete on a small
 * key space, so clients contend) through a random ready node, and records it in a `History`
 * (invocation, then completion) for the checker, exactly as the multi-process reliability
 * workload records HTTP calls. Outcomes: a coordinator's success is `ok`; its failure is
 * `unknown` (a write that missed its quorum may still have landed); a request the coordinator
 * never answers (it crashed) is completed `unknown` by the client's own timeout.
 *
 * Some puts carry a TTL (`ttlFraction`): the expiry is the coordinating node's wall clock plus
 * the TTL, as the API computes `?ttl=`. Some puts are conditional (`conditionalFraction`), done
 * the way `ClusterKvService` does them: a coordinated read first (a failed read means nothing
 * was written: `failed`), the precondition decided against what it returned (412: `failed`),
 * then a write conditioned on exactly that state — no live record, or that version — which
 * every replica checks; `GOSSAMER_ERR_PRECONDITION_FAILED` from the coordinator is a 412 as
 * well (`failed`: the API says nothing was written). If-Match uses the version this client last
 * saw for the key (read or acknowledged); without one the put is If-None-Match: *.
 */
import { formatVersion } from '../hlc/version.ts'
import type { Consistency } from '../replication/consistency.ts'
import type { ReadResult, WriteResult } from '../replication/coordinator.ts'
import type { WriteCondition } from '../storage/engine.ts'
import { isLive } from '../storage/record-rules.ts'
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
  /** Per client, per key: the version it last saw (for If-Match). */
  readonly #seen = new Map<string, string>()
  /** The latest expiry of any TTL put issued (Unix ms), or undefined. */
  latestExpiryMs: number | undefined

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
    const options = this.#options
    let expiresAtMs: number | undefined
    let ifMatch: string | undefined
    let ifNoneMatch: boolean | undefined
    if (kind === 'put' && this.#random.chance(options.ttlFraction)) {
      const ttlMs =
        options.ttlMinMs + this.#random.intBelow(options.ttlMaxMs - options.ttlMinMs + 1)
      // The API: `kv.nowMs() + ttl`, on an integer millisecond clock.
      expiresAtMs = Math.floor(node.wallMs()) + ttlMs
      this.latestExpiryMs = Math.max(this.latestExpiryMs ?? expiresAtMs, expiresAtMs)
    }
    if (kind === 'put' && this.#random.chance(options.conditionalFraction)) {
      const seen = this.#seen.get(`${client}/${key}`)
      if (seen !== undefined && this.#random.chance(0.5)) ifMatch = seen
      else ifNoneMatch = true
    }
    const id = this.history.invoke({
      client,
      node: node.name,
      kind,
      key,
      value,
      consistency,
      expiresAtMs,
      ifMatch,
      ifNoneMatch,
    })
    const extras = `${expiresAtMs === undefined ? '' : ` expires=${expiresAtMs}`}${ifMatch === undefined ? '' : ` if-match=${ifMatch}`}${ifNoneMatch ? ' if-none-match=*' : ''}`
    this.#log(
      `op#${id} invoke c${client} ${kind} ${key}${value === undefined ? '' : `=${value}`} ${consistency}${extras} via ${node.name}`,
    )
    this.inFlight++
    let isDone = false
    const finish = (completion: Parameters<History['complete']>[1]) => {
      if (isDone) return
      isDone = true
      this.inFlight--
      this.history.complete(id, completion)
      if (completion.outcome === 'ok' && completion.version !== undefined) {
        this.#seen.set(`${client}/${key}`, completion.version)
      }
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
    const bytes = value === undefined ? null : encoder.encode(value)
    if (kind === 'get') {
      node.read({ key, r: consistency }, (result) => finish(readCompletion(result)))
    } else if (ifMatch === undefined && ifNoneMatch !== true) {
      node.write({ key, value: bytes, w: consistency, expiresAtMs }, (result) =>
        finish(writeCompletion(result)),
      )
    } else {
      // ClusterKvService.#write with preconditions: read (r = the op's level), decide, write.
      node.read({ key, r: consistency }, (read) => {
        if (!read.ok)
          return finish({ outcome: 'failed', error: `precondition read: ${read.error.code}` })
        const current = isLive(read.record, node.wallMs()) ? read.record : undefined
        const currentVersion = current === undefined ? undefined : formatVersion(current.version)
        if (ifMatch !== undefined ? currentVersion !== ifMatch : current !== undefined) {
          return finish({ outcome: 'failed', error: 'GOSSAMER_ERR_PRECONDITION_FAILED (planned)' })
        }
        const condition: WriteCondition =
          current === undefined ? { kind: 'absent' } : { kind: 'version', version: current.version }
        node.write({ key, value: bytes, w: consistency, expiresAtMs, condition }, (result) =>
          finish(writeCompletion(result)),
        )
      })
    }
  }
}

function writeCompletion(result: WriteResult): Parameters<History['complete']>[1] {
  if (result.ok) return { outcome: 'ok', version: formatVersion(result.version) }
  // 412: the API tells the client that nothing was written — a definite failure.
  if (result.error.code === 'GOSSAMER_ERR_PRECONDITION_FAILED') {
    return { outcome: 'failed', error: result.error.code }
  }
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
