/**
 * An in-memory index of which keys this node stores in each partition. The Engine is ordered by
 * key, not by partition, so without it every hash-tree build (anti-entropy) and every handoff
 * page would walk the whole store; with it both cost the size of one partition.
 *
 * Built by one scan at startup, then fed every key the replication driver writes. Keys are
 * never removed here (the reaper purges records behind our back): readers look each key up and
 * skip the ones that are gone. Memory: one entry per stored key (roughly the key's length plus
 * ~50 bytes), a known limit of this design, noted in docs/cluster.md.
 */
import type { Engine, ScanOptions, ScanPage, StoredRecord } from '../../storage/engine.ts'
import { partitionScanReader } from '../../storage/partition-index.ts'

/** Per-partition access to this node's records: an in-memory index, or the engine's own. */
export interface PartitionView {
  /** Records that `key` was written. */
  add(key: string): void
  /** Forgets a dropped partition. */
  forget(partition: number): void
  /** A key-ordered scan over one partition (dead records included when asked). */
  reader(
    partition: number,
    store: { getRecord(key: string): StoredRecord | undefined },
  ): { scan(options: ScanOptions): ScanPage }
}

/** The view over an engine that keeps a partition index itself (`Engine.scanPartition`). */
export function enginePartitionView(engine: Engine): PartitionView {
  return {
    add: () => {},
    forget: () => {},
    reader: (partition) => partitionScanReader(engine, partition),
  }
}

/** The in-memory partition index, for engines without one. */
export class PartitionIndex implements PartitionView {
  readonly #keys = new Map<number, Set<string>>()
  // Sorted snapshot per partition, dropped when the partition gains a key.
  readonly #sorted = new Map<number, string[]>()
  readonly #partitionOf: (key: string) => number

  constructor(partitionOf: (key: string) => number) {
    this.#partitionOf = partitionOf
  }

  /** Indexes every key of `engine` (tombstones and expired records included). */
  static build(engine: Engine, partitionOf: (key: string) => number): PartitionIndex {
    const index = new PartitionIndex(partitionOf)
    let after: string | undefined
    // Bounded: each page advances past at least one key of a finite store.
    for (;;) {
      const page = engine.scan({ after, limit: 1000, includeDead: true, nowMs: 0 })
      for (const { key } of page.entries) index.add(key)
      if (page.cursor === undefined) return index
      after = page.cursor
    }
  }

  /** Records that `key` is (or may be) stored. */
  add(key: string): void {
    const partition = this.#partitionOf(key)
    let keys = this.#keys.get(partition)
    if (keys === undefined) {
      keys = new Set()
      this.#keys.set(partition, keys)
    }
    if (keys.has(key)) return
    keys.add(key)
    this.#sorted.delete(partition)
  }

  /** Forgets a partition (after its data was dropped). */
  forget(partition: number): void {
    this.#keys.delete(partition)
    this.#sorted.delete(partition)
  }

  /** Keys of a partition, sorted. */
  keys(partition: number): readonly string[] {
    let sorted = this.#sorted.get(partition)
    if (sorted === undefined) {
      sorted = [...(this.#keys.get(partition) ?? [])].sort()
      this.#sorted.set(partition, sorted)
    }
    return sorted
  }

  /** Number of keys indexed. */
  get size(): number {
    let total = 0
    for (const keys of this.#keys.values()) total += keys.size
    return total
  }

  /**
   * A key-ordered scan over one partition's records (dead ones included), the shape the
   * handoff source and the tree builder expect from a store. `prefix` is not supported.
   */
  reader(
    partition: number,
    store: { getRecord(key: string): StoredRecord | undefined },
  ): {
    scan(options: ScanOptions): ScanPage
  } {
    return {
      scan: (options: ScanOptions): ScanPage => {
        const keys = this.keys(partition)
        let start = 0
        if (options.after !== undefined) {
          const after = options.after
          start = lowerBound(keys, after)
          if (keys[start] === after) start += 1
        }
        const entries: Array<{ key: string; record: StoredRecord }> = []
        let at = start
        for (; at < keys.length && entries.length < options.limit; at++) {
          const record = store.getRecord(keys[at]!)
          if (record !== undefined) entries.push({ key: keys[at]!, record })
        }
        return at < keys.length ? { entries, cursor: keys[at - 1] } : { entries }
      },
    }
  }
}

function lowerBound(sorted: readonly string[], target: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (sorted[mid]! < target) low = mid + 1
    else high = mid
  }
  return low
}
