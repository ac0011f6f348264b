/**
 * The key-value operations of a clustered node (architecture §4, §6): the surface of
 * `KvService`, with every read and write coordinated across the key's replicas by the
 * replication driver, and per-request consistency `r` / `w` (`one | quorum | all | n`, default
 * quorum). A lone node is a cluster of one, so the same code serves a single node.
 *
 * - Writes take their version from this node's hybrid logical clock (inside the coordinator),
 *   and are acknowledged only once the wall clock has passed the version's millisecond (commit
 *   wait, `hlc/commit-wait.ts`), so a write invoked after the acknowledgement, through any
 *   node, orders after it.
 * - Preconditions (If-Match / If-None-Match) are decided against a coordinated read (`r`), and
 *   the write is then conditioned on exactly the state that read saw, checked by every replica:
 *   a replica whose state changed in between refuses, and the client gets 412.
 * - `previous` (201 vs 200 on `PUT /v1/kv`, 404 on deletes of absent keys): a delete reads the
 *   key first (`r`); a put judges from this node's local copy when it replicates the key, and
 *   otherwise reports the key as new. When this node is the key's only replica, the driver
 *   writes locally and reports the record the write replaced (read inside the same
 *   transaction), so the put does not read the key first.
 * - Listing is cluster-wide, but not here: `node.ts` (`withClusterListing`) replaces `list`
 *   with a merge of every reachable node's ordered local records (see docs/cluster.md).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { GossamerError, isGossamerErrorCode } from '../errors.ts'
import { COMMIT_WAIT_MAX_MS, commitWaitMs, isOnlyCoordinator } from '../hlc/commit-wait.ts'
import type { Version } from '../hlc/version.ts'
import type { Consistency, ReplicationFailure } from '../replication/consistency.ts'
import type { WriteResult as CoreWriteResult, ReadResult } from '../replication/coordinator.ts'
import type { Placement } from '../ring/partitioner.ts'
import type { Engine, ScanPage, StoredRecord, WriteCondition } from '../storage/engine.ts'
import { etagConditionMatches } from './http-input.ts'
import type { KvApi } from './kv-api.ts'
import { isLive, type LiveRecord, type WritePreconditions, type WriteResult } from './kv-service.ts'

/** A coordinated write's result, as the cluster driver reports it. */
export type CoordinatedWrite = CoreWriteResult & {
  readonly clockSkewRefusals?: number | undefined
  /** Present when this node was the only replica and applied the write itself. */
  readonly local?: { readonly previous: StoredRecord | undefined } | undefined
}

/** What the service needs from the replication driver. */
export interface ClusterCoordinator {
  write(input: {
    key: string
    value: Uint8Array | null
    expiresAtMs?: number | undefined
    contentType?: string | undefined
    condition?: WriteCondition | undefined
    w: Consistency
  }): Promise<CoordinatedWrite>
  read(input: { key: string; r: Consistency }): ReadResult | Promise<ReadResult>
  /** The read answered from this node alone, or undefined when it needs coordinating. */
  readLocal?(key: string, r: Consistency): ReadResult | undefined
}

/** What `#write` is given: a put, or a delete (`value` null, `readFirst`). */
interface WriteOptions {
  key: string
  value: Uint8Array | null
  contentType?: string | undefined
  expiresAtMs?: number | undefined
  preconditions?: WritePreconditions | undefined
  w?: Consistency | undefined
  r?: Consistency | undefined
  readFirst?: boolean
}

/** Key-value operations coordinated across the cluster. */
export class ClusterKvService implements KvApi {
  readonly #coordinator: ClusterCoordinator
  readonly #engine: Engine
  readonly #self: string
  readonly #placement: () => Placement
  readonly #observe: (version: Version) => void
  readonly #nowMs: () => number
  readonly #delay: (ms: number) => Promise<void>
  #isHealthy = true

  constructor(options: {
    coordinator: ClusterCoordinator
    engine: Engine
    self: string
    placement: () => Placement
    /** Lets the HLC observe versions read from replicas (causality across coordinators). */
    observe: (version: Version) => void
    nowMs: () => number
    /** Resolves after about `ms` milliseconds (the commit wait's timer). @default setTimeout */
    delay?: ((ms: number) => Promise<void>) | undefined
  }) {
    this.#delay = options.delay ?? ((ms) => sleep(Math.ceil(ms)))
    this.#coordinator = options.coordinator
    this.#engine = options.engine
    this.#self = options.self
    this.#placement = options.placement
    this.#observe = options.observe
    this.#nowMs = options.nowMs
  }

  get isHealthy(): boolean {
    return this.#isHealthy
  }

  /** Marks the node as failed (storage failure): it stops serving. */
  markUnhealthy(): void {
    this.#isHealthy = false
  }

  nowMs(): number {
    return this.#nowMs()
  }

  /**
   * The live record of `key`, or undefined. Synchronous when the driver answers from the local
   * replica alone (a lone node, `r=one` on a sole replica), a promise otherwise.
   */
  get(
    key: string,
    options: { r?: Consistency | undefined } = {},
  ): LiveRecord | undefined | Promise<LiveRecord | undefined> {
    this.#assertHealthy()
    const result = this.#coordinator.read({ key, r: options.r ?? 'quorum' })
    return result instanceof Promise
      ? result.then((settled) => this.#liveOf(settled))
      : this.#liveOf(result)
  }

  /**
   * The live record of `key` when this node alone answers a default (`r=quorum`) read and the
   * record is there: for the HTTP fast path. Undefined means "take the full route" — the read
   * needs coordinating, the key is absent or expired, the node is not serving, or anything
   * failed; it never throws.
   */
  readLocal(key: string): LiveRecord | undefined {
    if (!this.#isHealthy || this.#coordinator.readLocal === undefined) return undefined
    try {
      const result = this.#coordinator.readLocal(key, 'quorum')
      return result === undefined || !result.ok ? undefined : this.#liveOf(result)
    } catch {
      return undefined
    }
  }

  #liveOf(result: ReadResult): LiveRecord | undefined {
    if (!result.ok) throw failureError(result.error)
    if (result.newest !== undefined) {
      try {
        this.#observe(result.newest.version)
      } catch {
        // A version too far ahead is not observed; the read still answers.
      }
    }
    return isLive(result.record, this.#nowMs()) ? (result.record as LiveRecord) : undefined
  }

  put(options: {
    key: string
    value: Uint8Array
    contentType?: string | undefined
    expiresAtMs?: number | undefined
    preconditions?: WritePreconditions | undefined
    w?: Consistency | undefined
    r?: Consistency | undefined
  }): Promise<WriteResult> {
    return this.#write(options)
  }

  delete(options: {
    key: string
    preconditions?: WritePreconditions | undefined
    w?: Consistency | undefined
    r?: Consistency | undefined
  }): Promise<WriteResult> {
    return this.#write({ ...options, value: null, readFirst: true })
  }

  list(options: { prefix?: string | undefined; after?: string | undefined; limit: number }) {
    this.#assertHealthy()
    const page: ScanPage = this.#engine.scan({
      ...options,
      includeDead: false,
      nowMs: this.#nowMs(),
    })
    return page
  }

  // Writes read first only when they must (a precondition, or a delete that answers 404 for an
  // absent key). A blind write is one `.then` on the coordinator's promise rather than an async
  // function and its await: this is the path of every single-node PUT (docs/performance.md).
  #write(options: WriteOptions): Promise<WriteResult> {
    const { preconditions } = options
    if (
      preconditions?.ifMatch !== undefined ||
      preconditions?.ifNoneMatch !== undefined ||
      options.readFirst === true
    ) {
      return this.#writeAfterRead(options)
    }
    let previous: LiveRecord | undefined
    // Blind puts on the key's only replica learn the replaced record from the write itself.
    let previousFromWrite = false
    let written: Promise<CoordinatedWrite>
    try {
      this.#assertHealthy()
      const placement = this.#placement()
      const partition = placement.partitionOf(options.key)
      if (isSoleReplica(placement, partition, this.#self)) previousFromWrite = true
      else previous = this.#localPrevious(placement, partition, options.key)
      written = this.#coordinator.write(this.#coordinatorWrite(options, undefined))
    } catch (error) {
      return Promise.reject(error)
    }
    return written.then((result) => this.#acknowledge(result, previous, previousFromWrite))
  }

  async #writeAfterRead(options: WriteOptions): Promise<WriteResult> {
    this.#assertHealthy()
    const previous = await this.get(options.key, { r: options.r })
    const { preconditions } = options
    const condition =
      preconditions?.ifMatch !== undefined || preconditions?.ifNoneMatch !== undefined
        ? planCondition(previous, preconditions)
        : undefined
    const result = await this.#coordinator.write(this.#coordinatorWrite(options, condition))
    return this.#acknowledge(result, previous, false)
  }

  #coordinatorWrite(options: WriteOptions, condition: WriteCondition | undefined) {
    return {
      key: options.key,
      value: options.value,
      expiresAtMs: options.expiresAtMs,
      contentType: options.contentType,
      condition,
      w: options.w ?? 'quorum',
    }
  }

  // The answer to a coordinated write: its error, or its version and the record it replaced,
  // after the commit wait when one is due.
  #acknowledge(
    result: CoordinatedWrite,
    previous: LiveRecord | undefined,
    previousFromWrite: boolean,
  ): WriteResult | Promise<WriteResult> {
    if (!result.ok) {
      if (
        (result.clockSkewRefusals ?? 0) > 0 &&
        result.error.code !== 'GOSSAMER_ERR_PRECONDITION_FAILED'
      ) {
        throw new GossamerError(
          'GOSSAMER_ERR_CLOCK_SKEW',
          `${result.clockSkewRefusals} replica(s) refused the write: its version is further ahead ` +
            `of their clocks than maxClockSkewMs (this node's clock is probably wrong)`,
        )
      }
      throw failureError(result.error)
    }
    let replaced = previous
    if (previousFromWrite && result.local !== undefined) {
      const record = result.local.previous
      replaced = isLive(record, this.#nowMs()) ? record : undefined
    }
    const answer: WriteResult = { version: result.version, previous: replaced }
    if (
      commitWaitMs(result.version.wallMs, this.#nowMs()) > 0 &&
      !isOnlyCoordinator(this.#placement().owners, this.#self)
    ) {
      return this.#commitWait(result.version.wallMs).then(() => answer)
    }
    return answer
  }

  // Holds an acknowledgement until the wall clock has passed `wallMs` (hlc/commit-wait.ts). The
  // clock is read again after every timer, which may fire early against the wall clock; the
  // whole wait is bounded by COMMIT_WAIT_MAX_MS, and by as many timers (each waits >= 1 ms), in
  // case the clock does not move.
  async #commitWait(wallMs: number): Promise<void> {
    const giveUpAtMs = this.#nowMs() + COMMIT_WAIT_MAX_MS
    for (let round = 0; round <= COMMIT_WAIT_MAX_MS; round++) {
      const nowMs = this.#nowMs()
      const waitMs = commitWaitMs(wallMs, nowMs, giveUpAtMs - nowMs)
      if (waitMs <= 0) return
      await this.#delay(waitMs)
    }
  }

  #localPrevious(placement: Placement, partition: number, key: string): LiveRecord | undefined {
    if (!placement.preferenceList(partition).includes(this.#self)) return undefined
    const record: StoredRecord | undefined = this.#engine.getRecord(key)
    return isLive(record, this.#nowMs()) ? record : undefined
  }

  #assertHealthy(): void {
    if (!this.#isHealthy) {
      throw new GossamerError(
        'GOSSAMER_ERR_NOT_READY',
        'the node stopped serving after a storage failure',
      )
    }
  }
}

// The driver's condition for its local write path (`ReplicationDriver.write`).
function isSoleReplica(placement: Placement, partition: number, self: string): boolean {
  if (placement.replicaCount !== 1) return false
  const owners = placement.owners
  if (owners.length === 1) return owners[0] === self
  return placement.preferenceList(partition)[0] === self
}

function planCondition(
  current: LiveRecord | undefined,
  preconditions: WritePreconditions,
): WriteCondition {
  const { ifMatch, ifNoneMatch } = preconditions
  if (ifMatch !== undefined && !etagConditionMatches(ifMatch, current?.version, { strong: true })) {
    throw preconditionFailed()
  }
  if (
    ifNoneMatch !== undefined &&
    etagConditionMatches(ifNoneMatch, current?.version, { strong: false })
  ) {
    throw preconditionFailed()
  }
  return current === undefined ? { kind: 'absent' } : { kind: 'version', version: current.version }
}

function preconditionFailed(): GossamerError {
  return new GossamerError(
    'GOSSAMER_ERR_PRECONDITION_FAILED',
    'the If-Match / If-None-Match condition did not hold; nothing was written',
  )
}

/** The client-facing error of a failed coordinated request. */
export function failureError(failure: ReplicationFailure): GossamerError {
  if (failure.code === 'GOSSAMER_ERR_PRECONDITION_FAILED') return preconditionFailed()
  const code = isGossamerErrorCode(failure.code) ? failure.code : 'GOSSAMER_ERR_QUORUM_NOT_REACHED'
  const replicas = failure.replicas.map((r) => `${r.node}=${r.status}`).join(', ')
  return new GossamerError(code, `${failure.message} (${replicas})`)
}
