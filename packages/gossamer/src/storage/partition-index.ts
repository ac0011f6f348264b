/**
 * Rules of the partition index shared by both engines (engine.ts `PartitionIndexOptions`): the
 * index maps each partition to its keys in key order, is updated in the same commit as the data
 * (a key is added when it is first written and removed when it is purged or deleted; a key's
 * partition never changes), and lets anti-entropy and rebalancing read one partition without a
 * whole-store walk. Measured on 100,000 keys in 4,096 partitions, see lmdb-engine.ts.
 */
import type { Engine, PartitionIndexOptions, ScanOptions, ScanPage } from './engine.ts'

/** Most partitions an index supports (a partition is stored as a u16). Same as the ring's max. */
export const PARTITION_INDEX_PARTITIONS_MAX = 65_536

/**
 * Largest key an engine with a partition index accepts. LMDB's keys take at most 1978 bytes and an
 * index entry adds a 2-byte partition; the limit stays at 1975 (the old layout's 3-byte header)
 * so that the index database's entry in the LMDB root database (1977 bytes, lmdb-engine.ts) can
 * never be a user key. The in-memory engine applies the same limit so the engines agree.
 */
export const PARTITION_INDEXED_KEY_BYTES_MAX = 1975

/** Checks the options once, at engine construction. Throws RangeError when invalid. */
export function checkPartitionIndexOptions(options: PartitionIndexOptions): void {
  const { partitionCount, hashVersion } = options
  if (
    !Number.isInteger(partitionCount) ||
    partitionCount < 1 ||
    partitionCount > PARTITION_INDEX_PARTITIONS_MAX
  ) {
    throw new RangeError(`partitionCount must be an integer in [1, 65536], got ${partitionCount}`)
  }
  if (hashVersion !== undefined && (!Number.isInteger(hashVersion) || hashVersion < 0)) {
    throw new RangeError(`hashVersion must be a non-negative integer, got ${hashVersion}`)
  }
  if (typeof options.partitionOf !== 'function') throw new RangeError('partitionOf is required')
}

/**
 * The index of an engine that must have one, after checking `partition` against it. Calling
 * a partition operation on an engine without an index is a wiring bug: it throws.
 */
export function requirePartition(
  index: PartitionIndexOptions | undefined,
  partition: number,
): PartitionIndexOptions {
  if (index === undefined) {
    throw new Error('this engine was opened without a partition index (partitionIndex option)')
  }
  if (!Number.isInteger(partition) || partition < 0 || partition >= index.partitionCount) {
    throw new RangeError(`partition must be an integer in [0, ${index.partitionCount})`)
  }
  return index
}

/** The key's partition, checked: a `partitionOf` answering out of range is a bug. */
export function partitionOfChecked(index: PartitionIndexOptions, key: string): number {
  const partition = index.partitionOf(key)
  if (!Number.isInteger(partition) || partition < 0 || partition >= index.partitionCount) {
    throw new RangeError(`partitionOf(${JSON.stringify(key)}) = ${partition} is out of range`)
  }
  return partition
}

/**
 * A `scan`-shaped view of one partition of an indexed engine, for code written against a
 * key-ordered `scan` that filters by partition (hash-tree.ts `scanPartitionEntries`,
 * rebalance.ts `answerHandoffRequest`): given this view instead of the engine, that code
 * examines only the partition's keys and returns the same result. A `prefix` is refused.
 */
export function partitionScanReader(
  engine: Pick<Engine, 'scanPartition'>,
  partition: number,
): { scan(options: ScanOptions): ScanPage } {
  return {
    scan(options) {
      if (options.prefix !== undefined) throw new RangeError('a partition view takes no prefix')
      return engine.scanPartition({
        partition,
        after: options.after,
        limit: options.limit,
        includeDead: options.includeDead,
        nowMs: options.nowMs,
      })
    },
  }
}
