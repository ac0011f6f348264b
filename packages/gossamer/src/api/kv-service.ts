/**
 * The single-node key-value operations behind every HTTP route: read the live record, write a
 * value or a tombstone under a fresh HLC version, evaluate preconditions, list a prefix.
 *
 * Writes are durable before they return (the engine's promise resolves after its commit).
 * Preconditions are atomic without a lock: the service reads the current record, decides the
 * condition against it, and then writes *conditioned on exactly the state it saw* (that version,
 * or absence). If anything changed in between, the engine refuses the write and the client
 * gets 412 — conservative, never wrong.
 *
 * A write refused as stale (the stored version is newer, e.g. after the wall clock moved back
 * across a restart) makes the clock observe that version and retry with a larger one, a bounded
 * number of times.
 */
import { GossamerError, isGossamerError } from '../errors.ts'
import type { Version } from '../hlc/version.ts'
import type {
  Engine,
  ScanPage,
  StoredRecord,
  WriteCondition,
  WriteOutcome,
} from '../storage/engine.ts'
import { type EtagCondition, etagConditionMatches } from './http-input.ts'

/** What the API needs from the hybrid logical clock. */
export interface VersionClock {
  /** A new version, greater than any issued or observed before. */
  now(): Version
  /** Makes later versions greater than `remote`; throws when it is too far ahead. */
  observe(remote: Version): void
}

/** A live record (a value, not expired). */
export interface LiveRecord extends StoredRecord {
  readonly value: Uint8Array
}

/** Conditions from If-Match / If-None-Match. */
export interface WritePreconditions {
  readonly ifMatch?: EtagCondition | undefined
  readonly ifNoneMatch?: EtagCondition | undefined
}

/** Result of a put or delete that was applied. */
export interface WriteResult {
  readonly version: Version
  /** The live record that was replaced (undefined when the key was absent). */
  readonly previous: LiveRecord | undefined
}

const STALE_RETRY_LIMIT = 4

/** True when `record` holds a value that has not expired at `nowMs`. */
export function isLive(record: StoredRecord | undefined, nowMs: number): record is LiveRecord {
  return (
    record !== undefined &&
    record.value !== null &&
    (record.expiresAtMs === undefined || nowMs < record.expiresAtMs)
  )
}

/** Key-value operations over one engine and one clock. */
export class KvService {
  readonly #engine: Engine
  readonly #clock: VersionClock
  readonly #nowMs: () => number
  readonly #onStorageFailure: (error: unknown) => void
  #storageFailure: unknown

  constructor(options: {
    engine: Engine
    clock: VersionClock
    nowMs: () => number
    onStorageFailure?: ((error: unknown) => void) | undefined
  }) {
    this.#engine = options.engine
    this.#clock = options.clock
    this.#nowMs = options.nowMs
    this.#onStorageFailure = options.onStorageFailure ?? (() => {})
  }

  /** False once a storage operation failed: the node stops serving (fail-stop). */
  get isHealthy(): boolean {
    return this.#storageFailure === undefined
  }

  /** The current wall time used for expiry decisions. */
  nowMs(): number {
    return this.#nowMs()
  }

  /** The live record of `key`, or undefined. */
  get(key: string): LiveRecord | undefined {
    this.#assertHealthy()
    const record = this.#guardStorage(() => this.#engine.getRecord(key))
    return isLive(record, this.#nowMs()) ? record : undefined
  }

  /** Writes a value; see the file header for preconditions and durability. */
  put(options: {
    key: string
    value: Uint8Array
    contentType?: string | undefined
    expiresAtMs?: number | undefined
    preconditions?: WritePreconditions | undefined
  }): Promise<WriteResult> {
    const record = {
      value: options.value,
      contentType: options.contentType,
      expiresAtMs: options.expiresAtMs,
    }
    return this.#write(options.key, record, options.preconditions)
  }

  /** Writes a tombstone; `previous` says whether a live value was deleted. */
  delete(options: {
    key: string
    preconditions?: WritePreconditions | undefined
  }): Promise<WriteResult> {
    return this.#write(options.key, { value: null }, options.preconditions)
  }

  /** One page of live records in key order. */
  list(options: { prefix?: string | undefined; after?: string | undefined; limit: number }) {
    this.#assertHealthy()
    const page: ScanPage = this.#guardStorage(() =>
      this.#engine.scan({ ...options, includeDead: false, nowMs: this.#nowMs() }),
    )
    return page
  }

  async #write(
    key: string,
    record: Omit<StoredRecord, 'version'>,
    preconditions: WritePreconditions | undefined,
  ): Promise<WriteResult> {
    this.#assertHealthy()
    const condition = this.#planCondition(key, preconditions)
    for (let attempt = 0; attempt < STALE_RETRY_LIMIT; attempt++) {
      const version = this.#clock.now()
      const outcome = await this.#writeOnce({ key, record: { ...record, version }, condition })
      if (outcome.status === 'applied') {
        const previous = isLive(outcome.previous, this.#nowMs()) ? outcome.previous : undefined
        return { version, previous }
      }
      if (outcome.status === 'condition_failed') throw preconditionFailed()
      this.#clock.observe(outcome.current.version)
    }
    throw new GossamerError('GOSSAMER_ERR_INTERNAL', `write of "${key}" stayed stale after retries`)
  }

  async #writeOnce(entry: {
    key: string
    record: StoredRecord
    condition: WriteCondition | undefined
  }): Promise<WriteOutcome> {
    try {
      return await this.#engine.write(entry)
    } catch (error) {
      throw this.#storageFailed(error)
    }
  }

  // Decides the precondition against the current record, and returns the engine condition
  // that pins exactly that state (or undefined for a blind write).
  #planCondition(
    key: string,
    preconditions: WritePreconditions | undefined,
  ): WriteCondition | undefined {
    const { ifMatch, ifNoneMatch } = preconditions ?? {}
    if (ifMatch === undefined && ifNoneMatch === undefined) return undefined
    const current = this.get(key)
    if (
      ifMatch !== undefined &&
      !etagConditionMatches(ifMatch, current?.version, { strong: true })
    ) {
      throw preconditionFailed()
    }
    if (
      ifNoneMatch !== undefined &&
      etagConditionMatches(ifNoneMatch, current?.version, { strong: false })
    ) {
      throw preconditionFailed()
    }
    return current === undefined
      ? { kind: 'absent' }
      : { kind: 'version', version: current.version }
  }

  #guardStorage<T>(read: () => T): T {
    try {
      return read()
    } catch (error) {
      throw this.#storageFailed(error)
    }
  }

  #storageFailed(error: unknown): GossamerError {
    // Key errors from the engine are the client's problem, not the disk's.
    if (isGossamerError(error) && error.httpStatus < 500) return error
    if (this.#storageFailure === undefined) {
      this.#storageFailure = error
      this.#onStorageFailure(error)
    }
    const corrupt = isGossamerError(error) && error.code === 'GOSSAMER_ERR_STORAGE_CORRUPT'
    return new GossamerError(
      corrupt ? 'GOSSAMER_ERR_STORAGE_CORRUPT' : 'GOSSAMER_ERR_STORAGE_FAILED',
      'the storage engine failed; the node has stopped serving',
      { cause: error },
    )
  }

  #assertHealthy(): void {
    if (this.#storageFailure !== undefined) {
      throw new GossamerError(
        'GOSSAMER_ERR_NOT_READY',
        'the node stopped serving after a storage failure',
      )
    }
  }
}

function preconditionFailed(): GossamerError {
  return new GossamerError(
    'GOSSAMER_ERR_PRECONDITION_FAILED',
    'the If-Match / If-None-Match condition did not hold; nothing was written',
  )
}
