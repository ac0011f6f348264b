/**
 * @packageDocumentation
 * Storage: the `Engine` port, its two implementations (LMDB on disk, in memory for tests and
 * the simulator), the record codec both share, and the reaper that purges the dead.
 *
 * @example
 * ```ts
 * const engine = await LmdbEngine.open({ path: '/var/lib/gossamer/data' })
 * const outcome = await engine.write({ key: 'k', record: { version, value: bytes } })
 * if (outcome.status === 'stale') { ... } // a newer version is already stored
 * const page = engine.scan({ prefix: 'user/', limit: 100, nowMs: Date.now() })
 * ```
 */
export type {
  Durability,
  Engine,
  EngineStats,
  PartitionIndexOptions,
  PartitionScanOptions,
  ScanOptions,
  ScanPage,
  StoredRecord,
  WriteCondition,
  WriteEntry,
  WriteOutcome,
} from './engine.ts'
export { StorageCorruptionError, StorageFailureError, StorageKeyError } from './errors.ts'
export { compareKeys } from './keys.ts'
export { LMDB_ENGINE_KEY_BYTES_MAX, LmdbEngine, type LmdbEngineOptions } from './lmdb-engine.ts'
export { MEMORY_ENGINE_KEY_BYTES_MAX, MemoryEngine } from './memory-engine.ts'
export {
  PARTITION_INDEX_PARTITIONS_MAX,
  PARTITION_INDEXED_KEY_BYTES_MAX,
  partitionScanReader,
} from './partition-index.ts'
export {
  REAPER_BATCH_LIMIT_DEFAULT,
  REAPER_INTERVAL_MS_DEFAULT,
  Reaper,
  type ReaperOptions,
  TOMBSTONE_GRACE_MS_DEFAULT,
} from './reaper.ts'
export { decodeRecord, encodeRecord, RECORD_FORMAT_VERSION } from './record-codec.ts'
export { decideWrite, isLive, isPurgeable } from './record-rules.ts'
export { SCAN_EXAMINED_MAX } from './scan-page.ts'
