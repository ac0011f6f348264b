/**
 * The in-memory engine: the reference implementation of `Engine`, used by unit tests and the
 * simulator. It stores each record as the same checksummed bytes LMDB stores (record-codec.ts),
 * so values are copied in and out, and corruption can be injected (`corruptForTesting`) and is
 * detected exactly as on disk. Keys are kept sorted in UTF-8 byte order (`compareKeys`), the
 * order LMDB uses, so both engines scan identically.
 *
 * With `partitionIndex`, a per-partition sorted key list is kept next to the main one, updated
 * on every insert and removal, so `scanPartition` and `dropPartition` touch one partition only.
 *
 * Nothing here is durable: `close()` drops everything. The promise-returning methods complete
 * synchronously; the `*Sync` variants let a deterministic simulator apply writes without
 * awaiting.
 */
import type {
  Engine,
  EngineStats,
  PartitionIndexOptions,
  PartitionScanOptions,
  ScanOptions,
  ScanPage,
  StoredRecord,
  WriteEntry,
  WriteOutcome,
} from './engine.ts'
import { assertStorableKey, compareKeys, keySuccessor, utf8ByteLength } from './keys.ts'
import {
  checkPartitionIndexOptions,
  PARTITION_INDEXED_KEY_BYTES_MAX,
  partitionOfChecked,
  requirePartition,
} from './partition-index.ts'
import { decodeLater, decodeRecord, encodeRecord } from './record-codec.ts'
import { decideWrite, isPurgeable } from './record-rules.ts'
import { collectScanPage, type RawScanEntry, scanStartKey } from './scan-page.ts'

/** Largest key the in-memory engine accepts; the same as LMDB's so the engines agree. */
export const MEMORY_ENGINE_KEY_BYTES_MAX = 1978

/** An `Engine` held in process memory. See the file header. */
export class MemoryEngine implements Engine {
  // Invariant: #sortedKeys holds exactly the keys of #encodedByKey, in compareKeys order.
  readonly #encodedByKey = new Map<string, Uint8Array>()
  readonly #sortedKeys: string[] = []
  // Invariant (with an index): #keysByPartition holds every key once, under its partition, sorted.
  readonly #keysByPartition = new Map<number, string[]>()
  #sizeBytes = 0
  #isClosed = false
  readonly #maxKeyBytes: number

  /** See `PartitionIndexOptions`. */
  readonly partitionIndex: PartitionIndexOptions | undefined

  constructor(options: { readonly partitionIndex?: PartitionIndexOptions | undefined } = {}) {
    if (options.partitionIndex !== undefined) checkPartitionIndexOptions(options.partitionIndex)
    this.partitionIndex = options.partitionIndex
    this.#maxKeyBytes =
      options.partitionIndex === undefined
        ? MEMORY_ENGINE_KEY_BYTES_MAX
        : PARTITION_INDEXED_KEY_BYTES_MAX
  }

  getRecord(key: string): StoredRecord | undefined {
    this.#assertOpen()
    const encoded = this.#encodedByKey.get(key)
    return encoded === undefined ? undefined : decodeRecord(encoded, key)
  }

  write(entry: WriteEntry): Promise<WriteOutcome> {
    return settle(() => this.writeSync(entry))
  }

  writeBatch(entries: readonly WriteEntry[]): Promise<WriteOutcome[]> {
    return settle(() => this.writeBatchSync(entries))
  }

  /** `write`, completed synchronously (for the simulator). */
  writeSync(entry: WriteEntry): WriteOutcome {
    const [outcome] = this.writeBatchSync([entry])
    return outcome!
  }

  /**
   * `writeBatch`, completed synchronously. Every entry is validated and encoded before any is
   * applied, so a bad entry leaves the store untouched (all or nothing, like one LMDB commit).
   */
  writeBatchSync(entries: readonly WriteEntry[]): WriteOutcome[] {
    this.#assertOpen()
    const encodedEntries = entries.map((entry) => {
      assertStorableKey(entry.key, this.#maxKeyBytes)
      // Its own exact-size copy: encodeRecord returns a view into a shared slab, which a record
      // held for the store's lifetime would pin.
      return new Uint8Array(encodeRecord(entry.record))
    })
    const pending = new Map<string, StoredRecord | undefined>()
    const writes = new Map<string, Uint8Array>()
    const outcomes = entries.map((entry, index) => {
      const current = pending.has(entry.key) ? pending.get(entry.key) : this.getRecord(entry.key)
      const outcome = decideWrite(current, entry)
      if (outcome.status === 'applied') {
        pending.set(entry.key, entry.record)
        writes.set(entry.key, encodedEntries[index]!)
      }
      return outcome
    })
    for (const [key, encoded] of writes) this.#put(key, encoded)
    return outcomes
  }

  scan(options: ScanOptions): ScanPage {
    this.#assertOpen()
    return collectScanPage(this.#entriesFrom(scanStartKey(options)), options)
  }

  purge(options: { tombstoneBeforeMs: number; nowMs: number; limit: number }): Promise<number> {
    return settle(() => this.purgeSync(options))
  }

  /** `purge`, completed synchronously (for the simulator). */
  purgeSync(options: { tombstoneBeforeMs: number; nowMs: number; limit: number }): number {
    this.#assertOpen()
    const doomedKeys: string[] = []
    for (const key of this.#sortedKeys) {
      if (doomedKeys.length >= options.limit) break
      if (isPurgeable(this.getRecord(key)!, options)) doomedKeys.push(key)
    }
    for (const key of doomedKeys) this.#remove(key)
    return doomedKeys.length
  }

  deleteKeys(keys: readonly string[]): Promise<number> {
    return settle(() => this.deleteKeysSync(keys))
  }

  /** `deleteKeys`, completed synchronously (for the simulator). */
  deleteKeysSync(keys: readonly string[]): number {
    this.#assertOpen()
    let removedCount = 0
    for (const key of keys) {
      if (this.#encodedByKey.has(key)) {
        this.#remove(key)
        removedCount += 1
      }
    }
    return removedCount
  }

  scanPartition(options: PartitionScanOptions): ScanPage {
    this.#assertOpen()
    requirePartition(this.partitionIndex, options.partition)
    const keys = this.#keysByPartition.get(options.partition) ?? []
    const start = options.after === undefined ? '' : keySuccessor(options.after)
    return collectScanPage(this.#entriesOf(keys, lowerBound(keys, start)), {
      limit: options.limit,
      includeDead: options.includeDead,
      nowMs: options.nowMs,
    })
  }

  dropPartition(options: {
    partition: number
    limit: number
  }): Promise<{ removedCount: number; done: boolean }> {
    return settle(() => this.dropPartitionSync(options))
  }

  /** `dropPartition`, completed synchronously (for the simulator). */
  dropPartitionSync(options: { partition: number; limit: number }): {
    removedCount: number
    done: boolean
  } {
    this.#assertOpen()
    requirePartition(this.partitionIndex, options.partition)
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`limit must be an integer >= 1, got ${options.limit}`)
    }
    const doomed = (this.#keysByPartition.get(options.partition) ?? []).slice(0, options.limit)
    for (const key of doomed) this.#remove(key)
    return { removedCount: doomed.length, done: !this.#keysByPartition.has(options.partition) }
  }

  stats(): EngineStats {
    this.#assertOpen()
    return { keyCount: this.#sortedKeys.length, sizeBytes: this.#sizeBytes }
  }

  close(): Promise<void> {
    this.#isClosed = true
    this.#encodedByKey.clear()
    this.#keysByPartition.clear()
    this.#sortedKeys.length = 0
    this.#sizeBytes = 0
    return Promise.resolve()
  }

  /**
   * Flips one bit of the stored bytes of `key` (simulated disk corruption). Later reads of the
   * key throw StorageCorruptionError. Returns false when the key is not stored.
   */
  corruptForTesting(key: string, byteIndex: number): boolean {
    const encoded = this.#encodedByKey.get(key)
    if (encoded === undefined) return false
    const index = ((byteIndex % encoded.length) + encoded.length) % encoded.length
    encoded[index] = encoded[index]! ^ 0x01
    return true
  }

  *#entriesFrom(startKey: string): Generator<RawScanEntry> {
    // NB: iterates a snapshot of the positions; the engine is not written during a sync scan.
    for (let index = this.#lowerBound(startKey); index < this.#sortedKeys.length; index++) {
      const key = this.#sortedKeys[index]!
      const encoded = this.#encodedByKey.get(key)!
      yield { key, record: decodeLater(encoded, key) }
    }
  }

  *#entriesOf(keys: readonly string[], from: number): Generator<RawScanEntry> {
    for (let index = from; index < keys.length; index++) {
      const key = keys[index]!
      const encoded = this.#encodedByKey.get(key)!
      yield { key, record: decodeLater(encoded, key) }
    }
  }

  #put(key: string, encoded: Uint8Array): void {
    const previous = this.#encodedByKey.get(key)
    if (previous === undefined) {
      this.#sortedKeys.splice(this.#lowerBound(key), 0, key)
      this.#indexAdd(key)
      this.#sizeBytes += utf8ByteLength(key)
    } else {
      this.#sizeBytes -= previous.length
    }
    this.#encodedByKey.set(key, encoded)
    this.#sizeBytes += encoded.length
  }

  #remove(key: string): void {
    const previous = this.#encodedByKey.get(key)
    if (previous === undefined) return
    this.#encodedByKey.delete(key)
    this.#sortedKeys.splice(this.#lowerBound(key), 1)
    this.#indexRemove(key)
    this.#sizeBytes -= previous.length + utf8ByteLength(key)
  }

  #indexAdd(key: string): void {
    if (this.partitionIndex === undefined) return
    const partition = partitionOfChecked(this.partitionIndex, key)
    let keys = this.#keysByPartition.get(partition)
    if (keys === undefined) {
      keys = []
      this.#keysByPartition.set(partition, keys)
    }
    keys.splice(lowerBound(keys, key), 0, key)
  }

  #indexRemove(key: string): void {
    if (this.partitionIndex === undefined) return
    const partition = partitionOfChecked(this.partitionIndex, key)
    const keys = this.#keysByPartition.get(partition)
    if (keys === undefined) return
    keys.splice(lowerBound(keys, key), 1)
    if (keys.length === 0) this.#keysByPartition.delete(partition)
  }

  /** Index of the first stored key >= `key` in UTF-8 byte order. */
  #lowerBound(key: string): number {
    return lowerBound(this.#sortedKeys, key)
  }

  #assertOpen(): void {
    if (this.#isClosed) throw new Error('MemoryEngine: used after close()')
  }
}

/** Index of the first of the sorted `keys` that is >= `key` in UTF-8 byte order. */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (compareKeys(keys[middle]!, key) < 0) low = middle + 1
    else high = middle
  }
  return low
}

/** Runs `work` now and turns its result or exception into a settled promise. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work())
  } catch (error) {
    return Promise.reject(error)
  }
}
