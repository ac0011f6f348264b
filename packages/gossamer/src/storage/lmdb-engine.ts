/**
 * The durable engine: an adapter over lmdb-js (the only file that imports 'lmdb').
 *
 * Records are stored as record-codec bytes (`encoding: 'binary'`). Keys are stored as their raw
 * UTF-8 bytes (`keyEncoding: 'binary'`), so LMDB's memcmp order is exactly UTF-8 byte order.
 * NB: lmdb-js's default 'ordered-binary' string keys are NOT plain UTF-8: characters below
 * U+0005 are escaped, strings starting below U+001C get a prefix byte, and strings of 64+ UTF-16
 * units skip the escaping, so such keys neither keep UTF-8 order nor always decode back to the
 * same string. Raw bytes avoid all of that.
 *
 * Atomicity of record writes: this process is the environment's only writer, and every record
 * write is decided here, on the main thread, in one synchronous step: the current record is the
 * newest write still in flight for the key (decided, not yet committed: `#inFlight`) or else the
 * committed one; the shared last-writer-wins and condition rules decide every entry of a batch;
 * the applied ones are queued at once as plain lmdb-js puts (one block of one commit). Two writes to a key
 * are therefore decided in the order they are issued, each against the other's result, exactly
 * as if the decision ran inside the commit — but the commit itself no longer waits for the main
 * thread. (It used to: with `db.transaction(callback)` lmdb-js's write thread opens the
 * transaction and then waits for the main thread to run the callbacks, so under HTTP load every
 * commit also waited for the request being parsed at that moment; see docs/performance.md.)
 * A key's entry leaves `#inFlight` once its commit resolved, and lmdb-js renews the read
 * snapshot before it resolves a commit, so the next decision reads the committed record.
 * Purges, key deletions and partition drops keep `db.transaction` callbacks: they run in the
 * same write queue, in order with the batches, and re-check every record inside the
 * transaction. A written key gets its index entry when it is new, and — while any removal is
 * queued and not yet committed — every written key does (an idempotent put), because the
 * removal may take away the index entry of a key this write found present; outside those
 * windows updates cost no index write. (An `ifNoExists` per write would cover it too, but
 * conditional writes made lmdb-js commits about twice as slow: bench/engine-commits.ts.)
 *
 * Durability:
 * - `sync` (default): `overlappingSync: false` and no `noSync`, so LMDB fsyncs inside
 *   `mdb_txn_commit`, and lmdb-js resolves the write promise only after that commit returned.
 *   (lmdb-js enables `overlappingSync` by default on Linux/macOS, where the promise resolves at
 *   commit and the flush happens later; we turn it off so an acknowledged write is on disk.)
 * - `relaxed`: `noSync: true`. Commits reach the OS page cache but are never fsynced by us.
 *   A process crash loses nothing; a machine crash or power loss can lose recent acknowledged
 *   writes and, because LMDB then relies on the OS to order page writes, can in the worst case
 *   leave the file needing restore from replicas. Use it only for nodes whose data is rebuilt
 *   from replicas anyway (tests, caches, benchmarks).
 *
 * Partition index (optional, `partitionIndex`): in the same root database as the data, under
 * keys no user key can have. User keys are UTF-8, whose bytes are never 0xF5–0xFF, so
 * `[0xFF][u16 partition][key bytes]` (value empty) sorts after every user key, and
 * `[0xFE]partition-index` holds the index's settings (`u32 partitionCount, u32 hashVersion`).
 * Data scans stop at 0xF5. Being in the same database, the index entry is written in the same
 * transaction as the record, so the two are never out of step, even after a crash, and it costs
 * no extra fsync: one extra B-tree put when a key is first written (updates change nothing),
 * one extra remove when a key is purged or deleted. With the index a key may take at most
 * 1975 bytes (3 bytes go to the header). Opening with settings different from the stored ones
 * rebuilds the index (one walk of the store); opening without an index removes a stored one.
 *
 * Measured (test/storage/partition-scan.bench.ts, 100,000 keys, 100-byte values, 4,096
 * partitions, one run on a shared 2-core machine): reading one partition (~24 keys) by walking
 * the whole store took ~920 ms on LMDB and ~600 ms in memory; with the index ~0.46 ms and
 * ~0.23 ms, about 2,000× less. The price is on inserts of new keys: 100,000 inserts in batches
 * of 1,000 took 0.70 s without and 1.36 s with the index on LMDB in `relaxed` mode (in `sync`
 * mode the per-commit fsync dominates and the difference shrinks); updates cost nothing extra.
 */

import { statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { open, type RootDatabase } from 'lmdb'
import type {
  Durability,
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
import { asStorageError } from './errors.ts'
import { assertStorableKey, keySuccessor } from './keys.ts'
import {
  checkPartitionIndexOptions,
  PARTITION_INDEXED_KEY_BYTES_MAX,
  partitionOfChecked,
  requirePartition,
} from './partition-index.ts'
import { decodeLater, decodeRecord, encodeRecord } from './record-codec.ts'
import { decideWrite, isPurgeable } from './record-rules.ts'
import { collectScanPage, type RawScanEntry, scanStartKey } from './scan-page.ts'

/** Largest key LMDB accepts with lmdb-js's build settings (its DEFAULT_MAX_KEY_SIZE). */
export const LMDB_ENGINE_KEY_BYTES_MAX = 1978

/** Options for {@link LmdbEngine.open}. */
export interface LmdbEngineOptions {
  /** Directory holding the environment (`data.mdb`, `lock.mdb`); created if missing. */
  readonly path: string
  /** See the file header. @default 'sync' */
  readonly durability?: Durability
  /**
   * Initial map size in bytes. lmdb-js grows the map on demand, so this is a starting point,
   * not a cap. @default lmdb-js's default
   */
  readonly mapSizeBytes?: number
  /** Keep a per-partition index (see the file header). @default none */
  readonly partitionIndex?: PartitionIndexOptions | undefined
}

/** First byte no UTF-8 key can start with: data scans end here. */
const DATA_END = Buffer.from([0xf5])
/** First byte of every partition index entry. */
const INDEX_TAG = 0xff
/** The key holding the index's settings. */
const INDEX_META_KEY = Buffer.concat([Buffer.from([0xfe]), Buffer.from('partition-index')])
/** Index entries rebuilt or removed per transaction when the index changes at open. */
const INDEX_REBUILD_BATCH = 10_000
const EMPTY = Buffer.alloc(0)

function indexPrefix(partition: number): Buffer {
  return Buffer.from([INDEX_TAG, partition >>> 8, partition & 0xff])
}

function indexKey(partition: number, keyBytes: Buffer): Buffer {
  return Buffer.concat([indexPrefix(partition), keyBytes])
}

/** The end (exclusive) of `partition`'s index range; undefined for the last u16 partition. */
function indexEnd(partition: number): Buffer | undefined {
  return partition + 1 >= 65_536 ? undefined : indexPrefix(partition + 1)
}

function indexMeta(index: PartitionIndexOptions): Buffer {
  const meta = Buffer.alloc(8)
  meta.writeUInt32BE(index.partitionCount, 0)
  meta.writeUInt32BE(index.hashVersion ?? 1, 4)
  return meta
}

type Bytes = Buffer

interface PreparedWrite {
  readonly entry: WriteEntry
  readonly keyBytes: Bytes
  /** The encoded record; lmdb-js takes any Uint8Array as a value (see `#put`). */
  readonly encoded: Uint8Array
}

/** An `Engine` stored in an LMDB environment. Open with {@link LmdbEngine.open}. */
export class LmdbEngine implements Engine {
  /** The directory of the environment. */
  readonly path: string
  /** The durability mode the environment was opened with. */
  readonly durability: Durability
  /** See `PartitionIndexOptions`. */
  readonly partitionIndex: PartitionIndexOptions | undefined
  readonly #db: RootDatabase<Bytes, Bytes>
  readonly #maxKeyBytes: number
  // Writes decided and queued but not known committed yet, by key (see the file header).
  readonly #inFlight = new Map<string, PreparedWrite>()
  // Purges, key deletions and partition drops queued and not yet committed.
  #removalsPending = 0

  private constructor(
    path: string,
    durability: Durability,
    db: RootDatabase<Bytes, Bytes>,
    partitionIndex: PartitionIndexOptions | undefined,
  ) {
    this.path = path
    this.durability = durability
    this.#db = db
    this.partitionIndex = partitionIndex
    this.#maxKeyBytes =
      partitionIndex === undefined ? LMDB_ENGINE_KEY_BYTES_MAX : PARTITION_INDEXED_KEY_BYTES_MAX
  }

  /** Opens (creating if needed) the environment in directory `options.path`. */
  static async open(options: LmdbEngineOptions): Promise<LmdbEngine> {
    const durability = options.durability ?? 'sync'
    if (options.partitionIndex !== undefined) checkPartitionIndexOptions(options.partitionIndex)
    let engine: LmdbEngine
    try {
      await mkdir(options.path, { recursive: true })
      const db = open<Bytes, Bytes>({
        path: options.path,
        keyEncoding: 'binary',
        encoding: 'binary',
        overlappingSync: false,
        noSync: durability === 'relaxed',
        ...(options.mapSizeBytes === undefined ? {} : { mapSize: options.mapSizeBytes }),
      })
      engine = new LmdbEngine(options.path, durability, db, options.partitionIndex)
    } catch (error) {
      throw asStorageError(error, `opening ${options.path}`)
    }
    try {
      await engine.#reconcileIndex()
    } catch (error) {
      await engine.close()
      throw asStorageError(error, `building the partition index of ${options.path}`)
    }
    return engine
  }

  getRecord(key: string): StoredRecord | undefined {
    // getBinaryFast: lmdb-js's reused buffer, no copy; decodeRecord copies what it keeps.
    const encoded = this.#db.getBinaryFast(Buffer.from(key, 'utf8'))
    return encoded === undefined ? undefined : decodeRecord(encoded, key)
  }

  /**
   * `writeBatch` of one entry, without the batch's arrays, maps and sets (the local write path
   * of every single-replica PUT comes here). Same rules, same errors.
   */
  write(entry: WriteEntry): Promise<WriteOutcome> {
    let write: PreparedWrite
    try {
      write = this.#prepare(entry)
    } catch (error) {
      return Promise.reject(error)
    }
    let outcome: WriteOutcome
    let indexEntry: Bytes | undefined
    try {
      const current = this.#current(write)
      outcome = decideWrite(current, entry)
      if (outcome.status !== 'applied') return Promise.resolve(outcome)
      indexEntry = this.#indexEntryOf(write, current === undefined)
    } catch (error) {
      return Promise.reject(asStorageError(error, 'writing 1 record(s)'))
    }
    this.#inFlight.set(entry.key, write)
    let settled: Promise<unknown>
    try {
      const committed = this.#put(write)
      settled =
        indexEntry === undefined
          ? committed
          : Promise.all([committed, this.#db.put(indexEntry, EMPTY)])
    } catch (error) {
      this.#landed(write)
      return Promise.reject(asStorageError(error, 'writing 1 record(s)'))
    }
    // Anonymous callbacks only: a named closure made per call (`const done = () => …`) costs an
    // Object.defineProperty per write under tsx, whose esbuild transform keeps function names
    // (docs/performance.md, "Sixth session").
    return settled.then(
      () => {
        this.#landed(write)
        return outcome
      },
      (error: unknown) => {
        this.#landed(write)
        throw asStorageError(error, 'writing 1 record(s)')
      },
    )
  }

  // A queued write is committed (or failed): it stops being the key's in-flight record unless a
  // newer write of the key replaced it there.
  #landed(write: PreparedWrite): void {
    const key = write.entry.key
    if (this.#inFlight.get(key) === write) this.#inFlight.delete(key)
  }

  async writeBatch(entries: readonly WriteEntry[]): Promise<WriteOutcome[]> {
    // Validate and encode first: nothing that can throw for bad input runs inside the commit.
    const prepared = entries.map((entry) => this.#prepare(entry))
    if (prepared.length === 0) return []
    let decided: { outcomes: WriteOutcome[]; writes: PreparedWrite[]; isNew: Set<string> }
    let indexKeys: Array<Bytes | undefined> | undefined
    try {
      decided = this.#decide(prepared)
      if (this.partitionIndex !== undefined) {
        indexKeys = decided.writes.map((write) =>
          this.#indexEntryOf(write, decided.isNew.has(write.entry.key)),
        )
      }
    } catch (error) {
      throw asStorageError(error, `writing ${prepared.length} record(s)`)
    }
    if (decided.writes.length === 0) return decided.outcomes
    for (const write of decided.writes) this.#inFlight.set(write.entry.key, write)
    try {
      await this.#queueWrites(decided.writes, indexKeys)
    } catch (error) {
      throw asStorageError(error, `writing ${prepared.length} record(s)`)
    } finally {
      for (const write of decided.writes) this.#landed(write)
    }
    return decided.outcomes
  }

  scan(options: ScanOptions): ScanPage {
    const startKey = Buffer.from(scanStartKey(options), 'utf8')
    return collectScanPage(this.#entriesFrom(startKey), options)
  }

  async purge(options: {
    tombstoneBeforeMs: number
    nowMs: number
    limit: number
  }): Promise<number> {
    // Find candidates outside the write lock, then re-check each inside the transaction: a
    // newer write may have replaced a candidate in between.
    const candidates: Bytes[] = []
    for (const entry of this.#entriesFrom(undefined)) {
      if (candidates.length >= options.limit) break
      if (isPurgeable(entry.record(), options)) candidates.push(Buffer.from(entry.key, 'utf8'))
    }
    if (candidates.length === 0) return 0
    return this.#removePurgeable(candidates, options)
  }

  async #removePurgeable(
    candidates: readonly Bytes[],
    options: { tombstoneBeforeMs: number; nowMs: number },
  ): Promise<number> {
    const removal = this.#removal(() => {
      let removedCount = 0
      for (const keyBytes of candidates) {
        const encoded = this.#db.get(keyBytes)
        if (encoded === undefined) continue
        if (!isPurgeable(decodeRecord(encoded, keyBytes.toString('utf8')), options)) continue
        if (this.#removeInTransaction(keyBytes)) removedCount += 1
      }
      return removedCount
    })
    try {
      return await removal
    } catch (error) {
      throw asStorageError(error, 'purging')
    }
  }

  async deleteKeys(keys: readonly string[]): Promise<number> {
    const keyBytes = keys.map((key) => {
      assertStorableKey(key, LMDB_ENGINE_KEY_BYTES_MAX)
      return Buffer.from(key, 'utf8')
    })
    if (keyBytes.length === 0) return 0
    try {
      return await this.#removal(() => {
        let removedCount = 0
        for (const bytes of keyBytes) if (this.#removeInTransaction(bytes)) removedCount += 1
        return removedCount
      })
    } catch (error) {
      throw asStorageError(error, `deleting ${keyBytes.length} key(s)`)
    }
  }

  scanPartition(options: PartitionScanOptions): ScanPage {
    requirePartition(this.partitionIndex, options.partition)
    const afterBytes =
      options.after === undefined ? EMPTY : Buffer.from(keySuccessor(options.after), 'utf8')
    const start = indexKey(options.partition, afterBytes)
    return collectScanPage(this.#partitionEntries(start, indexEnd(options.partition)), {
      limit: options.limit,
      includeDead: options.includeDead,
      nowMs: options.nowMs,
    })
  }

  async dropPartition(options: {
    partition: number
    limit: number
  }): Promise<{ removedCount: number; done: boolean }> {
    requirePartition(this.partitionIndex, options.partition)
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`limit must be an integer >= 1, got ${options.limit}`)
    }
    const range = { start: indexPrefix(options.partition), end: indexEnd(options.partition) }
    try {
      return await this.#removal(() => {
        let removedCount = 0
        for (const key of [...this.#db.getKeys({ ...range, limit: options.limit })]) {
          this.#db.removeSync(key)
          if (this.#db.removeSync(key.subarray(3))) removedCount += 1
        }
        const done = [...this.#db.getKeys({ ...range, limit: 1 })].length === 0
        return { removedCount, done }
      })
    } catch (error) {
      throw asStorageError(error, `dropping partition ${options.partition}`)
    }
  }

  stats(): EngineStats {
    const dbStats = this.#db.getStats() as { entryCount?: number }
    const entryCount = dbStats.entryCount ?? 0
    // With an index every key has exactly one index entry, plus the one settings entry.
    const keyCount = this.partitionIndex === undefined ? entryCount : (entryCount - 1) / 2
    return { keyCount, sizeBytes: this.#fileSizeBytes() }
  }

  /** Waits for pending writes, then closes the environment. */
  async close(): Promise<void> {
    await this.#db.close()
  }

  #decide(prepared: readonly PreparedWrite[]): {
    outcomes: WriteOutcome[]
    writes: PreparedWrite[]
    isNew: Set<string>
  } {
    // Decide every entry before queueing any, so a corrupt stored record (which throws) aborts
    // the whole batch instead of leaving half of it written. `pending` lets a later entry see
    // an earlier entry's write to the same key.
    const pending = new Map<string, StoredRecord>()
    const writes = new Map<string, PreparedWrite>()
    const isNew = new Set<string>()
    const outcomes = prepared.map((write) => {
      const key = write.entry.key
      const current = pending.get(key) ?? this.#current(write)
      const outcome = decideWrite(current, write.entry)
      if (outcome.status === 'applied' && current === undefined) isNew.add(key)
      if (outcome.status === 'applied') {
        pending.set(key, write.entry.record)
        writes.set(key, write)
      }
      return outcome
    })
    return { outcomes, writes: [...writes.values()], isNew }
  }

  // Plain asynchronous puts, issued in one synchronous step: lmdb-js gathers every write of an
  // event-loop turn into one block of one transaction (so a record and its index entry, and a
  // batch's entries, commit together) and starts its commit at the end of the turn, so writes
  // from many requests share it. (An explicit `db.batch` starts a commit of its own at once,
  // which shared commits far less under HTTP load.) Nothing here throws for bad input: keys and
  // index keys were checked before. Resolves once the transaction is committed (and, in `sync`
  // mode, fsynced).
  #queueWrites(
    writes: readonly PreparedWrite[],
    indexKeys: ReadonlyArray<Bytes | undefined> | undefined,
  ): Promise<unknown> {
    const committed: Array<Promise<unknown>> = []
    writes.forEach((write, i) => {
      committed.push(this.#put(write))
      const key = indexKeys?.[i]
      if (key !== undefined) committed.push(this.#db.put(key, EMPTY))
    })
    return committed.length === 1 ? committed[0]! : Promise.all(committed)
  }

  // Validates the key and encodes the record; throws for bad input, before anything is queued.
  #prepare(entry: WriteEntry): PreparedWrite {
    assertStorableKey(entry.key, this.#maxKeyBytes)
    return { entry, keyBytes: Buffer.from(entry.key, 'utf8'), encoded: encodeRecord(entry.record) }
  }

  // The partition-index entry to write with an applied write: for a new key, and for every key
  // while a removal is queued (see the file header); undefined otherwise or without an index.
  #indexEntryOf(write: PreparedWrite, isNew: boolean): Bytes | undefined {
    const index = this.partitionIndex
    if (index === undefined || (!isNew && this.#removalsPending === 0)) return undefined
    return indexKey(partitionOfChecked(index, write.entry.key), write.keyBytes)
  }

  // lmdb-js writes any Uint8Array value (its `put` checks `instanceof Uint8Array`, not Buffer),
  // so the encoded record goes in without a Buffer wrapper; its typing says Buffer.
  #put(write: PreparedWrite): Promise<boolean> {
    return this.#db.put(write.keyBytes, write.encoded as Bytes)
  }

  // Runs a removal transaction, counted while queued (see the file header).
  async #removal<T>(callback: () => T): Promise<T> {
    this.#removalsPending += 1
    try {
      return await this.#db.transaction(callback)
    } finally {
      this.#removalsPending -= 1
    }
  }

  /** Removes a record and its index entry inside a write transaction; true if it existed. */
  #removeInTransaction(keyBytes: Bytes): boolean {
    if (!this.#db.removeSync(keyBytes)) return false
    if (this.partitionIndex !== undefined) {
      const partition = partitionOfChecked(this.partitionIndex, keyBytes.toString('utf8'))
      this.#db.removeSync(indexKey(partition, keyBytes))
    }
    return true
  }

  *#partitionEntries(start: Bytes, end: Bytes | undefined): Generator<RawScanEntry> {
    for (const indexEntryKey of this.#db.getKeys(end === undefined ? { start } : { start, end })) {
      const keyBytes = indexEntryKey.subarray(3)
      const value = this.#db.get(keyBytes)
      if (value === undefined) continue // unreachable while the index is kept in step
      const keyText = keyBytes.toString('utf8')
      yield { key: keyText, record: decodeLater(value, keyText) }
    }
  }

  /**
   * Makes the stored index match the options: nothing to do when the stored settings equal
   * them; otherwise the settings entry is removed first, the old entries next, the new entries
   * are built, and the settings are written last, so a crash at any point leaves no settings
   * entry and the next open starts over.
   */
  async #reconcileIndex(): Promise<void> {
    const stored = this.#db.get(INDEX_META_KEY)
    const wanted = this.partitionIndex === undefined ? undefined : indexMeta(this.partitionIndex)
    if (stored === undefined && wanted === undefined) return
    if (stored !== undefined && wanted !== undefined && stored.equals(wanted)) return
    await this.#db.transaction(() => this.#db.removeSync(INDEX_META_KEY))
    // Bounded: each round removes up to a batch of the finite set of index entries.
    for (;;) {
      const removed = await this.#db.transaction(() => {
        const keys = [
          ...this.#db.getKeys({ start: Buffer.from([INDEX_TAG]), limit: INDEX_REBUILD_BATCH }),
        ]
        for (const key of keys) this.#db.removeSync(key)
        return keys.length
      })
      if (removed < INDEX_REBUILD_BATCH) break
    }
    if (wanted === undefined || this.partitionIndex === undefined) return
    await this.#buildIndex(this.partitionIndex)
    await this.#db.transaction(() => this.#db.putSync(INDEX_META_KEY, wanted))
  }

  async #buildIndex(index: PartitionIndexOptions): Promise<void> {
    let start: Bytes = EMPTY
    // Bounded: every round advances `start` past a batch of the finite set of data keys.
    for (;;) {
      const keys = [
        ...this.#db.getKeys({ start, end: DATA_END, limit: INDEX_REBUILD_BATCH }),
      ] as Bytes[]
      if (keys.length === 0) return
      await this.#db.transaction(() => {
        for (const keyBytes of keys) {
          const partition = partitionOfChecked(index, keyBytes.toString('utf8'))
          this.#db.putSync(indexKey(partition, keyBytes), EMPTY)
        }
      })
      if (keys.length < INDEX_REBUILD_BATCH) return
      start = Buffer.concat([keys[keys.length - 1]!, Buffer.from([0])])
    }
  }

  // The newest record of a key: a write still in flight (decoded from its bytes, so the caller
  // gets a copy it may keep, as from a read), or the committed one.
  #current(write: PreparedWrite): StoredRecord | undefined {
    const inFlight = this.#inFlight.get(write.entry.key)
    if (inFlight !== undefined) return decodeRecord(inFlight.encoded, write.entry.key)
    return this.#readCommitted(write)
  }

  #readCommitted(write: PreparedWrite): StoredRecord | undefined {
    const encoded = this.#db.getBinaryFast(write.keyBytes)
    return encoded === undefined ? undefined : decodeRecord(encoded, write.entry.key)
  }

  *#entriesFrom(startKey: Bytes | undefined): Generator<RawScanEntry> {
    const range = this.#db.getRange(
      startKey === undefined ? { end: DATA_END } : { start: startKey, end: DATA_END },
    )
    for (const { key, value } of range) {
      const keyText = key.toString('utf8')
      yield { key: keyText, record: decodeLater(value, keyText) }
    }
  }

  #fileSizeBytes(): number {
    try {
      return statSync(join(this.path, 'data.mdb')).size
    } catch {
      return 0
    }
  }
}
