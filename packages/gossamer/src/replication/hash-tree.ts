/**
 * Per-partition hash trees for active anti-entropy (architecture §6; Merkle trees as in Dynamo,
 * DeCandia et al. 2007, §4.7). A tree has a fixed shape — `fanout` children per inner node,
 * `depth` levels below the root, so `fanout ** depth` leaf buckets — and every key of the
 * partition falls into one bucket by a hash of the key that is independent of the partition
 * hash. Two replicas that build trees of the same shape compare the root, descend only into
 * children whose hashes differ, and end with the few buckets whose contents differ.
 *
 * A leaf hash combines the hashes of its entries (key, version, tombstone flag) by XOR, two
 * independent 32-bit murmur3 hashes side by side (64 bits): XOR makes the leaf independent of
 * entry order, and since a store holds each key once there are no duplicate entries to cancel.
 * An inner node hashes its children's 64-bit hashes in order. Hashes travel as 16 hex digits.
 *
 * What goes into a tree: every record of the partition, except tombstones older than the purge
 * horizon (`nowMs − tombstoneGraceMs`) and records that expired before that horizon. Those two
 * are "dead for good": each replica purges them on its own schedule (`storage/reaper.ts`, same
 * horizon), and leaving them out keeps that skew from showing as a difference forever. They are
 * still consulted when a key differs for another reason (see anti-entropy.ts), so a stale live
 * value still loses to them. An expired record is a delete that happened at its expiry time:
 * until the horizon it stays in the tree like a fresh tombstone, so anti-entropy spreads it
 * to a replica that missed the TTL put and still holds an older value of the key — left out at
 * expiry, that replica's older value would be the only entry, be copied back, and come back to
 * life once the expired record was purged.
 *
 * Pure: trees are built from entries the caller scans out of storage (`scanPartitionEntries`).
 */

import { formatVersion } from '../hlc/version.ts'
import { murmur3x86_32, utf8Bytes } from '../ring/hash.ts'
import type { ScanOptions, ScanPage, StoredRecord } from '../storage/engine.ts'
import type { KeyVersion, TreeShape } from './messages.ts'

/** Default shape: 16 × 16 = 256 leaf buckets per partition. */
export const DEFAULT_TREE_SHAPE: TreeShape = { fanout: 16, depth: 2 }

/** Largest leaf count a tree may have (bounds memory and a hostile peer's request). */
export const TREE_LEAVES_MAX = 65_536

const BUCKET_SEED = 0x5bd1e995
const ENTRY_SEED_A = 0x2545f491
const ENTRY_SEED_B = 0x68e31da4

/** True when both sides could build this shape. Peers' shapes are checked with it. */
export function isValidShape(shape: TreeShape): boolean {
  const { fanout, depth } = shape
  if (!Number.isInteger(fanout) || !Number.isInteger(depth)) return false
  if (fanout < 2 || fanout > 256 || depth < 1 || depth > 8) return false
  return fanout ** depth <= TREE_LEAVES_MAX
}

/** Number of nodes on `level` (0 = root). */
export function levelWidth(shape: TreeShape, level: number): number {
  return shape.fanout ** level
}

/** The leaf bucket of a key. */
export function bucketOf(key: string, shape: TreeShape): number {
  return murmur3x86_32(utf8Bytes(key), BUCKET_SEED) % levelWidth(shape, shape.depth)
}

/**
 * The tree entry of a stored record at `nowMs`, or undefined when it is dead for good
 * (a tombstone older than the purge horizon, or a record that expired before it).
 */
export function treeEntry(
  key: string,
  record: StoredRecord,
  options: { readonly nowMs: number; readonly tombstoneGraceMs: number },
): KeyVersion | undefined {
  const tombstone = record.value === null
  const horizonMs = options.nowMs - options.tombstoneGraceMs
  if (tombstone && record.version.wallMs < horizonMs) return undefined
  if (record.expiresAtMs !== undefined && record.expiresAtMs <= horizonMs) return undefined
  return { key, version: record.version, tombstone }
}

function entryBytes(entry: KeyVersion): Uint8Array {
  // NB: key, then a NUL, then the version text, then the flag: unambiguous for any key since
  // the version text ends the string and the flag is its last character.
  return utf8Bytes(
    `${entry.key}\u0000${formatVersion(entry.version)}${entry.tombstone ? 'T' : 'L'}`,
  )
}

function hex(a: number, b: number): string {
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0')
}

/** A hash tree over one partition's entries. Immutable once built. */
export class HashTree {
  readonly shape: TreeShape
  // levels[l] holds 2 × width u32s: the (a, b) hash pair of each node on level l.
  readonly #levels: Uint32Array[]
  readonly #buckets: KeyVersion[][]

  constructor(shape: TreeShape, entries: Iterable<KeyVersion>) {
    if (!isValidShape(shape)) throw new RangeError(`invalid tree shape ${JSON.stringify(shape)}`)
    this.shape = shape
    const leafCount = levelWidth(shape, shape.depth)
    this.#buckets = Array.from({ length: leafCount }, () => [])
    const leaves = new Uint32Array(2 * leafCount)
    for (const entry of entries) {
      const bucket = bucketOf(entry.key, shape)
      this.#buckets[bucket]!.push(entry)
      const bytes = entryBytes(entry)
      leaves[2 * bucket] = leaves[2 * bucket]! ^ murmur3x86_32(bytes, ENTRY_SEED_A)
      leaves[2 * bucket + 1] = leaves[2 * bucket + 1]! ^ murmur3x86_32(bytes, ENTRY_SEED_B)
    }
    this.#levels = new Array<Uint32Array>(shape.depth + 1)
    this.#levels[shape.depth] = leaves
    for (let level = shape.depth - 1; level >= 0; level--) {
      this.#levels[level] = this.#combine(this.#levels[level + 1]!, levelWidth(shape, level))
    }
  }

  #combine(children: Uint32Array, width: number): Uint32Array {
    const { fanout } = this.shape
    const out = new Uint32Array(2 * width)
    for (let index = 0; index < width; index++) {
      const slice = children.subarray(2 * index * fanout, 2 * (index + 1) * fanout)
      if (slice.every((word) => word === 0)) continue // an empty subtree hashes to zero
      const bytes = new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength)
      out[2 * index] = murmur3x86_32(bytes, ENTRY_SEED_A)
      out[2 * index + 1] = murmur3x86_32(bytes, ENTRY_SEED_B)
    }
    return out
  }

  /** The hash of node `index` on `level`, as 16 hex digits; all zeros for an empty subtree. */
  hash(level: number, index: number): string {
    const words = this.#levels[level]
    if (words === undefined || index < 0 || 2 * index >= words.length) {
      throw new RangeError(`no tree node ${level}/${index}`)
    }
    return hex(words[2 * index]!, words[2 * index + 1]!)
  }

  /** The root hash. */
  get rootHash(): string {
    return this.hash(0, 0)
  }

  /** Indexes, on the next level down, of the children of node `index`. */
  children(index: number): number[] {
    const first = index * this.shape.fanout
    return Array.from({ length: this.shape.fanout }, (_, i) => first + i)
  }

  /** The entries in the given leaf buckets. */
  entriesIn(buckets: readonly number[]): KeyVersion[] {
    return buckets.flatMap((bucket) => this.#buckets[bucket] ?? [])
  }

  /** Number of entries in the tree. */
  get entryCount(): number {
    return this.#buckets.reduce((sum, bucket) => sum + bucket.length, 0)
  }
}

/** What a tree build needs from storage: a key-ordered scan including dead records. */
export interface ScanReader {
  scan(options: ScanOptions): ScanPage
}

/**
 * Scans the tree entries of `partition` out of a store, page by page (`pageLimit` each). The
 * Engine is ordered by key, not by partition, so this walks every key once and keeps the
 * partition's; `scanPartitionsEntries` builds many partitions' entries in that one walk.
 */
export function scanPartitionEntries(options: {
  readonly store: ScanReader
  readonly partition: number
  readonly partitionOf: (key: string) => number
  readonly nowMs: number
  readonly tombstoneGraceMs: number
  readonly pageLimit?: number | undefined
}): KeyVersion[] {
  const byPartition = scanPartitionsEntries({ ...options, partitions: [options.partition] })
  return byPartition.get(options.partition) ?? []
}

/** Like `scanPartitionEntries` for several partitions in one walk of the store. */
export function scanPartitionsEntries(options: {
  readonly store: ScanReader
  readonly partitions: Iterable<number>
  readonly partitionOf: (key: string) => number
  readonly nowMs: number
  readonly tombstoneGraceMs: number
  readonly pageLimit?: number | undefined
}): Map<number, KeyVersion[]> {
  const out = new Map<number, KeyVersion[]>()
  for (const partition of options.partitions) out.set(partition, [])
  let after: string | undefined
  // Bounded: every page advances the cursor past at least one key, and the store is finite.
  for (;;) {
    const page = options.store.scan({
      after,
      limit: options.pageLimit ?? 1000,
      includeDead: true,
      nowMs: options.nowMs,
    })
    for (const { key, record } of page.entries) {
      const entries = out.get(options.partitionOf(key))
      if (entries === undefined) continue
      const entry = treeEntry(key, record, options)
      if (entry !== undefined) entries.push(entry)
    }
    if (page.cursor === undefined) return out
    after = page.cursor
  }
}
