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
 * Atomicity: every write goes through `db.transaction(callback)`. The callback runs inside
 * LMDB's single write transaction, reads the current records, decides every entry with the
 * shared last-writer-wins and condition rules, and only then writes, so the check and the
 * write are one atomic step and a batch is one commit.
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
 */

import { statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { open, type RootDatabase } from 'lmdb'
import type {
  Durability,
  Engine,
  EngineStats,
  ScanOptions,
  ScanPage,
  StoredRecord,
  WriteEntry,
  WriteOutcome,
} from './engine.ts'
import { asStorageError } from './errors.ts'
import { assertStorableKey } from './keys.ts'
import { decodeRecord, encodeRecord } from './record-codec.ts'
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
}

type Bytes = Buffer

interface PreparedWrite {
  readonly entry: WriteEntry
  readonly keyBytes: Bytes
  readonly encoded: Bytes
}

/** An `Engine` stored in an LMDB environment. Open with {@link LmdbEngine.open}. */
export class LmdbEngine implements Engine {
  /** The directory of the environment. */
  readonly path: string
  /** The durability mode the environment was opened with. */
  readonly durability: Durability
  readonly #db: RootDatabase<Bytes, Bytes>

  private constructor(path: string, durability: Durability, db: RootDatabase<Bytes, Bytes>) {
    this.path = path
    this.durability = durability
    this.#db = db
  }

  /** Opens (creating if needed) the environment in directory `options.path`. */
  static async open(options: LmdbEngineOptions): Promise<LmdbEngine> {
    const durability = options.durability ?? 'sync'
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
      return new LmdbEngine(options.path, durability, db)
    } catch (error) {
      throw asStorageError(error, `opening ${options.path}`)
    }
  }

  getRecord(key: string): StoredRecord | undefined {
    const encoded = this.#db.get(Buffer.from(key, 'utf8'))
    return encoded === undefined ? undefined : decodeRecord(encoded, key)
  }

  async write(entry: WriteEntry): Promise<WriteOutcome> {
    const [outcome] = await this.writeBatch([entry])
    return outcome!
  }

  async writeBatch(entries: readonly WriteEntry[]): Promise<WriteOutcome[]> {
    // Validate and encode first: nothing that can throw for bad input runs inside the commit.
    const prepared = entries.map((entry): PreparedWrite => {
      assertStorableKey(entry.key, LMDB_ENGINE_KEY_BYTES_MAX)
      const encoded = encodeRecord(entry.record)
      return {
        entry,
        keyBytes: Buffer.from(entry.key, 'utf8'),
        encoded: Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength),
      }
    })
    if (prepared.length === 0) return []
    try {
      return await this.#db.transaction(() => this.#applyInTransaction(prepared))
    } catch (error) {
      throw asStorageError(error, `writing ${prepared.length} record(s)`)
    }
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
    const removal = this.#db.transaction(() => {
      let removedCount = 0
      for (const keyBytes of candidates) {
        const encoded = this.#db.get(keyBytes)
        if (encoded === undefined) continue
        if (!isPurgeable(decodeRecord(encoded, keyBytes.toString('utf8')), options)) continue
        if (this.#db.removeSync(keyBytes)) removedCount += 1
      }
      return removedCount
    })
    try {
      return await removal
    } catch (error) {
      throw asStorageError(error, 'purging')
    }
  }

  stats(): EngineStats {
    const dbStats = this.#db.getStats() as { entryCount?: number }
    return { keyCount: dbStats.entryCount ?? 0, sizeBytes: this.#fileSizeBytes() }
  }

  /** Waits for pending writes, then closes the environment. */
  async close(): Promise<void> {
    await this.#db.close()
  }

  #applyInTransaction(prepared: readonly PreparedWrite[]): WriteOutcome[] {
    // Decide every entry before writing any, so a corrupt stored record (which throws) aborts
    // the whole batch instead of leaving half of it written. `pending` lets a later entry see
    // an earlier entry's write to the same key.
    const pending = new Map<string, StoredRecord | undefined>()
    const writes = new Map<string, PreparedWrite>()
    const outcomes = prepared.map((write) => {
      const key = write.entry.key
      const current = pending.has(key) ? pending.get(key) : this.#readInTransaction(write)
      const outcome = decideWrite(current, write.entry)
      if (outcome.status === 'applied') {
        pending.set(key, write.entry.record)
        writes.set(key, write)
      }
      return outcome
    })
    for (const write of writes.values()) this.#db.putSync(write.keyBytes, write.encoded)
    return outcomes
  }

  #readInTransaction(write: PreparedWrite): StoredRecord | undefined {
    const encoded = this.#db.get(write.keyBytes)
    return encoded === undefined ? undefined : decodeRecord(encoded, write.entry.key)
  }

  *#entriesFrom(startKey: Bytes | undefined): Generator<RawScanEntry> {
    const range = this.#db.getRange(startKey === undefined ? {} : { start: startKey })
    for (const { key, value } of range) {
      const keyText = key.toString('utf8')
      yield { key: keyText, record: () => decodeRecord(value, keyText) }
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
