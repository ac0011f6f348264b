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
 * Partition index (optional, `partitionIndex`): a named database of the same environment
 * (`INDEX_DB_NAME`) with one entry `[u16 partition][key bytes]` (value empty) per key, and the
 * index's settings under the one-byte key `[0x00]` (`'2'`, `u32 partitionCount, u32
 * hashVersion`), which sorts before every partition's range. lmdb-js queues the writes of every
 * database of one environment in one batch, so an index entry commits in the same transaction as
 * its record: the two are never out of step, even after a crash, and the index costs no extra
 * fsync: one extra B-tree put when a key is first written (updates change nothing), one extra
 * remove when a key is purged or deleted.
 * Records are the root database's entries, keyed by their UTF-8 bytes (never 0xF5–0xFF; data
 * scans stop at 0xF5). LMDB keeps a named database as an entry of the root database under its
 * name: here `\x01gossamer:partition-index:…`, 1976 bytes (1977 with LMDB's terminating NUL),
 * longer than any key an indexed engine accepts (1975 bytes), so no user key can be it; reads
 * and scans skip it. Its first byte puts it before nearly every key, and nothing else sorts
 * after the records: keys written in increasing order are appended at the end of the tree,
 * where LMDB splits a full page at the end rather than in the middle.
 * Why this layout (docs/performance.md, "Eighth session"): the layout before kept the index in
 * the root database under `[0xFF]` keys and its settings under `[0xFE]partition-index`, right
 * after the records, so a key appended to the records was inserted before them and LMDB split
 * pages in the middle: 20,000 keys written in order took 962 leaf pages and 10 branch pages
 * instead of 770 and 5 (`lmdb-engine.test.ts`), and every commit copies more of them. Opening a
 * store of that layout, or with settings different from the stored ones, removes the old entries
 * and rebuilds the index (one walk of the store); opening without an index removes a stored one.
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
import { type Database, open, type RootDatabase } from 'lmdb'
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
/** First byte of every partition index entry of the old layout (in the root database). */
const OLD_INDEX_TAG = 0xff
/** The key that held the index's settings in the old layout (root database). */
const OLD_INDEX_META_KEY = Buffer.concat([Buffer.from([0xfe]), Buffer.from('partition-index')])
/**
 * The key of the index's settings, in the index database: one byte, so it sorts before every
 * partition's range (`[u16 partition]…`, at least 3 bytes) and no partition scan meets it.
 */
const INDEX_META_KEY = Buffer.from([0])
/** The layout of the index the settings describe (the old layout stored no layout byte). */
const INDEX_LAYOUT = 0x32 // '2'
/**
 * The named database of the index: ASCII, one byte longer than the longest key an indexed engine
 * accepts (`PARTITION_INDEXED_KEY_BYTES_MAX`); with LMDB's terminating NUL its entry in the root
 * database is two bytes longer, so it can never be a user key (see the header).
 */
export const INDEX_DB_NAME = '\u0001gossamer:partition-index:'.padEnd(
  PARTITION_INDEXED_KEY_BYTES_MAX + 1,
  '.',
)
/** The index database's entry in the root database: its name as LMDB stores it, NUL-terminated. */
const INDEX_DB_ENTRY_KEY = `${INDEX_DB_NAME}\u0000`
const INDEX_DB_ENTRY_KEY_BYTES = Buffer.from(INDEX_DB_ENTRY_KEY, 'latin1')
/** Index entries rebuilt or removed per transaction when the index changes at open. */
const INDEX_REBUILD_BATCH = 10_000
const EMPTY = Buffer.alloc(0)

/** Bytes before the key in an index entry: the partition, u16 big-endian. */
const INDEX_KEY_HEADER_BYTES = 2

function indexPrefix(partition: number): Buffer {
  return Buffer.from([partition >>> 8, partition & 0xff])
}

function indexKey(partition: number, keyBytes: Buffer): Buffer {
  return Buffer.concat([indexPrefix(partition), keyBytes])
}

/** The end (exclusive) of `partition`'s index range; undefined for the last u16 partition. */
function indexEnd(partition: number): Buffer | undefined {
  return partition + 1 >= 65_536 ? undefined : indexPrefix(partition + 1)
}

function indexMeta(index: PartitionIndexOptions): Buffer {
  const meta = Buffer.alloc(9)
  meta[0] = INDEX_LAYOUT
  meta.writeUInt32BE(index.partitionCount, 1)
  meta.writeUInt32BE(index.hashVersion ?? 1, 5)
  return meta
}

/** True for a key of the root database that is not a record: the index database's entry. */
function isIndexDbEntry(keyBytes: Bytes): boolean {
  return (
    keyBytes.length === INDEX_DB_ENTRY_KEY_BYTES.length && keyBytes.equals(INDEX_DB_ENTRY_KEY_BYTES)
  )
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
  // The index's database, open while the engine keeps an index (set by `#reconcileIndex`).
  #indexDb: Database<Bytes, Bytes> | undefined
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
    if (this.#indexDb !== undefined && key === INDEX_DB_ENTRY_KEY) return undefined
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
          : Promise.all([committed, this.#indexDb!.put(indexEntry, EMPTY)])
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
      assertStorableKey(key, this.#maxKeyBytes)
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
        const indexDb = this.#indexDb!
        for (const key of [...indexDb.getKeys({ ...range, limit: options.limit })]) {
          indexDb.removeSync(key)
          if (this.#db.removeSync(key.subarray(INDEX_KEY_HEADER_BYTES))) removedCount += 1
        }
        const done = [...indexDb.getKeys({ ...range, limit: 1 })].length === 0
        return { removedCount, done }
      })
    } catch (error) {
      throw asStorageError(error, `dropping partition ${options.partition}`)
    }
  }

  stats(): EngineStats {
    const dbStats = this.#db.getStats() as { entryCount?: number }
    const entryCount = dbStats.entryCount ?? 0
    // With an index the root database also holds the index database's entry.
    const keyCount = this.partitionIndex === undefined ? entryCount : entryCount - 1
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
      if (key !== undefined) committed.push(this.#indexDb!.put(key, EMPTY))
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
      this.#indexDb!.removeSync(indexKey(partition, keyBytes))
    }
    return true
  }

  *#partitionEntries(start: Bytes, end: Bytes | undefined): Generator<RawScanEntry> {
    const indexDb = this.#indexDb!
    for (const indexEntryKey of indexDb.getKeys(end === undefined ? { start } : { start, end })) {
      const keyBytes = indexEntryKey.subarray(INDEX_KEY_HEADER_BYTES)
      const value = this.#db.get(keyBytes)
      if (value === undefined) continue // unreachable while the index is kept in step
      const keyText = keyBytes.toString('utf8')
      yield { key: keyText, record: decodeLater(value, keyText) }
    }
  }

  /**
   * Makes the stored index match the options: nothing to do when the stored settings equal
   * them; otherwise the settings entry is removed first, the old entries next (the index
   * database's, and a store of the old layout's `[0xFF]` entries in the root database), the new
   * entries are built, and the settings are written last, so a crash at any point leaves no
   * settings entry and the next open starts over. Without an index, a stored index database is
   * deleted from the environment.
   */
  async #reconcileIndex(): Promise<void> {
    const wanted = this.partitionIndex === undefined ? undefined : indexMeta(this.partitionIndex)
    const hasIndexDb = this.#db.get(INDEX_DB_ENTRY_KEY_BYTES) !== undefined
    const existing = hasIndexDb ? this.#openIndexDb() : undefined
    const stored = existing?.get(INDEX_META_KEY)
    const hasOldLayout = this.#db.get(OLD_INDEX_META_KEY) !== undefined
    if (wanted !== undefined && stored?.equals(wanted) === true && !hasOldLayout) {
      this.#indexDb = existing
      return
    }
    if (hasOldLayout) {
      await this.#db.transaction(() => this.#db.removeSync(OLD_INDEX_META_KEY))
    }
    await this.#removeOldLayoutIndex()
    if (existing !== undefined) {
      // Emptied (deleted, without an index) in one transaction, settings included: LMDB frees a
      // database's pages without visiting its entries.
      if (wanted === undefined) await existing.drop()
      else await existing.clearAsync()
    }
    if (wanted === undefined || this.partitionIndex === undefined) return
    const indexDb = existing ?? this.#openIndexDb()
    this.#indexDb = indexDb
    await this.#buildIndex(this.partitionIndex, indexDb)
    await indexDb.transaction(() => indexDb.putSync(INDEX_META_KEY, wanted))
  }

  #openIndexDb(): Database<Bytes, Bytes> {
    try {
      return this.#db.openDB<Bytes, Bytes>({
        name: INDEX_DB_NAME,
        keyEncoding: 'binary',
        encoding: 'binary',
      })
    } catch (error) {
      // Only a record stored under the index database's entry key (1977 bytes, which only an
      // engine without an index accepts) can be in its place.
      throw new Error(
        `cannot open the partition index: the store holds a ${INDEX_DB_ENTRY_KEY_BYTES.length}-byte ` +
          'key longer than an indexed store accepts, written without an index; delete it first',
        { cause: error },
      )
    }
  }

  // The old layout kept the index in the root database under `[0xFF]` keys.
  async #removeOldLayoutIndex(): Promise<void> {
    const start = Buffer.from([OLD_INDEX_TAG])
    // Bounded: each round removes up to a batch of the finite set of old index entries.
    for (;;) {
      const removed = await this.#db.transaction(() => {
        const keys = [...this.#db.getKeys({ start, limit: INDEX_REBUILD_BATCH })]
        for (const key of keys) this.#db.removeSync(key)
        return keys.length
      })
      if (removed < INDEX_REBUILD_BATCH) break
    }
  }

  async #buildIndex(index: PartitionIndexOptions, indexDb: Database<Bytes, Bytes>): Promise<void> {
    let start: Bytes = EMPTY
    // Bounded: every round advances `start` past a batch of the finite set of data keys.
    for (;;) {
      const keys = [
        ...this.#db.getKeys({ start, end: DATA_END, limit: INDEX_REBUILD_BATCH }),
      ] as Bytes[]
      if (keys.length === 0) return
      await this.#db.transaction(() => {
        for (const keyBytes of keys) {
          if (isIndexDbEntry(keyBytes)) continue
          const partition = partitionOfChecked(index, keyBytes.toString('utf8'))
          indexDb.putSync(indexKey(partition, keyBytes), EMPTY)
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
      if (this.#indexDb !== undefined && isIndexDbEntry(key)) continue
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
