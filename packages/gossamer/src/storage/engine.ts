/**
 * The storage port: every engine (LMDB, in-memory) implements `Engine` and passes the one
 * compliance suite in `test/storage/compliance.ts`. Records are versioned; a write whose version
 * is not greater than the stored one is refused (last-writer-wins by version), and the engine
 * reports which happened.
 *
 * Reads are synchronous (LMDB reads are memory-mapped; the in-memory engine is trivially sync).
 * Writes are asynchronous and resolve only once durable under the engine's durability mode.
 */
import type { Version } from '../hlc/version.ts'

/** One stored record: a value or a tombstone, always with a version. */
export interface StoredRecord {
  readonly version: Version
  /** The value bytes, or `null` for a tombstone (a delete). */
  readonly value: Uint8Array | null
  /** Absolute expiry in Unix milliseconds; the record reads as absent at or after it. */
  readonly expiresAtMs?: number | undefined
  /** Content type given by the writer (kept and returned by `/v1/kv`). */
  readonly contentType?: string | undefined
}

/** A condition checked atomically with the write (HTTP If-Match / If-None-Match: *). */
export type WriteCondition =
  /** The live (non-tombstone, unexpired) record must exist and have exactly this version. */
  | { readonly kind: 'version'; readonly version: Version }
  /** There must be no live record for the key. */
  | { readonly kind: 'absent' }

export type WriteOutcome =
  | { readonly status: 'applied'; readonly previous: StoredRecord | undefined }
  /** The stored record's version is >= the incoming one; nothing was written. */
  | { readonly status: 'stale'; readonly current: StoredRecord }
  /**
   * The write condition did not hold; nothing was written. `current` is the LIVE record the
   * condition was checked against (undefined when the key is absent, a tombstone or expired).
   * Last-writer-wins is checked first: a redelivered write reports `stale`, not this.
   * Expiry for conditions is judged at the incoming record's `version.wallMs` (engines read no
   * clock; this makes the decision the same on every replica). See `record-rules.ts`.
   */
  | { readonly status: 'condition_failed'; readonly current: StoredRecord | undefined }

export interface WriteEntry {
  readonly key: string
  readonly record: StoredRecord
  readonly condition?: WriteCondition | undefined
}

export interface ScanOptions {
  /** Only keys starting with this prefix (default: all keys). */
  readonly prefix?: string | undefined
  /** Resume strictly after this key (the `cursor` returned by the previous page). */
  readonly after?: string | undefined
  /** Maximum number of entries returned (>= 1). */
  readonly limit: number
  /** Include tombstones and expired records (replication needs them; the API does not). */
  readonly includeDead?: boolean | undefined
  /** Time used to decide expiry, Unix ms (callers pass their clock; engines never read one). */
  readonly nowMs: number
}

export interface ScanPage {
  readonly entries: ReadonlyArray<{ readonly key: string; readonly record: StoredRecord }>
  /**
   * Present when more entries may follow: pass as `after` to get the next page. Absent means the
   * scan is complete. NB: a page may hold fewer than `limit` entries and still carry a cursor
   * (a page skips at most `SCAN_EXAMINED_MAX` dead entries before returning early), so callers
   * must page on the cursor, never on `entries.length < limit`.
   */
  readonly cursor?: string | undefined
}

/**
 * Settings of an engine's partition index: which partition each key belongs to, so one
 * partition can be scanned or dropped without walking the whole store. The engine never
 * computes placement itself; the node passes the ring's function (`ring/partitioner.ts`).
 */
export interface PartitionIndexOptions {
  /** Number of partitions; `partitionOf` answers in `[0, partitionCount)`. */
  readonly partitionCount: number
  /** The key's partition. Must be a pure function of the key. */
  readonly partitionOf: (key: string) => number
  /**
   * Version of `partitionOf`'s hash; a change (like a change of `partitionCount`) makes a
   * durable engine rebuild its index when it opens. @default 1
   */
  readonly hashVersion?: number | undefined
}

/** Options of `Engine.scanPartition`: like `ScanOptions`, within one partition, no prefix. */
export interface PartitionScanOptions {
  readonly partition: number
  /** Resume strictly after this key (the previous page's `cursor`). */
  readonly after?: string | undefined
  /** Maximum number of entries returned (>= 1). */
  readonly limit: number
  /** Include tombstones and expired records. */
  readonly includeDead?: boolean | undefined
  /** Time used to decide expiry, Unix ms. */
  readonly nowMs: number
}

export interface EngineStats {
  /** Number of stored records, tombstones included. */
  readonly keyCount: number
  /** Approximate bytes used by the store (file size for LMDB). */
  readonly sizeBytes: number
}

/**
 * `sync`: every acknowledged write is on stable storage (fsync before the promise resolves).
 * `relaxed`: writes are acknowledged once in the OS page cache; a machine crash (not a process
 * crash) can lose the last moments of writes.
 */
export type Durability = 'sync' | 'relaxed'

export interface Engine {
  /** The raw record, tombstones and expired records included. */
  getRecord(key: string): StoredRecord | undefined
  /** Writes one record under last-writer-wins and the optional condition. */
  write(entry: WriteEntry): Promise<WriteOutcome>
  /** Writes many records in one durable commit; outcomes are in input order. */
  writeBatch(entries: readonly WriteEntry[]): Promise<WriteOutcome[]>
  /** Ordered (by UTF-8 byte order of keys) scan with limit and resume cursor. */
  scan(options: ScanOptions): ScanPage
  /**
   * Removes tombstones whose version is older than `tombstoneBeforeMs` and records that expired
   * before `nowMs`, at most `limit` of them; returns how many were removed.
   */
  purge(options: { tombstoneBeforeMs: number; nowMs: number; limit: number }): Promise<number>
  stats(): EngineStats
  close(): Promise<void>
  /**
   * Physically removes these keys and their records, tombstones included; writes no tombstone.
   * For dropping data this node no longer owns (a partition handed off to its new owners),
   * never for a client delete. Missing keys are ignored. Returns how many were removed.
   */
  deleteKeys(keys: readonly string[]): Promise<number>
  /** The partition index this engine maintains, or undefined when it has none. */
  readonly partitionIndex: PartitionIndexOptions | undefined
  /**
   * One partition's records in key order (UTF-8 byte order), with the same paging contract as
   * `scan`. Examines only that partition's keys. Throws when the engine has no partition index.
   */
  scanPartition(options: PartitionScanOptions): ScanPage
  /**
   * Physically removes up to `limit` records of `partition` (tombstones included) in one commit.
   * `done` is true when the partition is now empty. Throws without a partition index.
   */
  dropPartition(options: {
    readonly partition: number
    readonly limit: number
  }): Promise<{ readonly removedCount: number; readonly done: boolean }>
}
