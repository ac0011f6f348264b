/**
 * Placement: keys → partitions → ordered owners (architecture §5).
 *
 * Keys map to one of a fixed number of partitions by `keyHash(key) % partitionCount`
 * (`hash.ts`). Partitions map to an ordered owner list by a deterministic function of the
 * ownership set only — never of liveness, join order or input order — so every node that holds
 * the same set computes the same placement.
 *
 * The function is rendezvous (highest-random-weight) hashing with bounded loads: every
 * (partition, node) pair gets a score `murmur3(utf8(node) ‖ be32(partition), PLACEMENT_SEED)`.
 * Replica ranks are filled one at a time (rank 0 = first replica, …, rank N−1). For each rank,
 * all pairs are visited in descending score order (ties: lower partition, then lower node name)
 * and a pair is taken when its partition still lacks this rank, the node is not yet one of that
 * partition's owners, and the node holds fewer than `cap = ceil(loadFactor × P / M)` partitions
 * at this rank. This is the unique stable assignment for the capacities (a global greedy by
 * score), so plain HRW's minimal movement mostly survives while no node can exceed the cap. A
 * partition that the capped pass cannot place (possible only when few nodes remain eligible,
 * i.e. M close to N) goes to its best-scoring eligible node regardless of the cap. After the N
 * balanced replicas, the remaining nodes follow in plain descending-score order; the alive ones
 * among them are the partition's fallbacks. Measurements and the choice of the partition count
 * and load factor are in docs/placement.md.
 */
import { keyHash, murmur3x86_32, utf8Bytes } from './hash.ts'

/** Version of the placement function. Bump (with a migration plan) if anything below changes. */
export const PLACEMENT_VERSION = 1

/** Seed of the (partition, node) score hash (golden-ratio constant; any fixed value works). */
export const PLACEMENT_SEED = 0x9e3779b9

/** Default number of partitions; fixed when a cluster is created. See docs/placement.md. */
export const DEFAULT_PARTITION_COUNT = 4096

/** Default per-rank load cap as a multiple of the average. See docs/placement.md. */
export const DEFAULT_LOAD_FACTOR = 1.08

/** Largest supported partition count (the packed sort key below needs P × M < 2^21). */
export const MAX_PARTITION_COUNT = 65536

/** Settings that, with the ownership set, fully determine a placement. Plain data. */
export interface PlacementOptions {
  /** Number of partitions; fixed for the life of the cluster. @default 4096 */
  readonly partitionCount?: number | undefined
  /** Replicas per partition (N); `'all'` means every owner. @default 3 */
  readonly replicaCount?: number | 'all' | undefined
  /** Per-rank load cap as a multiple of P/M (must be >= 1). @default 1.08 */
  readonly loadFactor?: number | undefined
}

/** The partition a key belongs to: `keyHash(key) % partitionCount`. */
export function partitionOf(key: string, partitionCount: number = DEFAULT_PARTITION_COUNT): number {
  return keyHash(key) % partitionCount
}

/** Score of a (partition, node) pair; higher wins. Exported for tests and docs. */
export function placementScore(partition: number, nodeName: string): number {
  return scoreOf(partition, utf8Bytes(nodeName), new Uint8Array(0))
}

function scoreOf(partition: number, nameBytes: Uint8Array, scratch: Uint8Array): number {
  const buf =
    scratch.length === nameBytes.length + 4 ? scratch : new Uint8Array(nameBytes.length + 4)
  buf.set(nameBytes)
  const at = nameBytes.length
  buf[at] = partition >>> 24
  buf[at + 1] = (partition >>> 16) & 0xff
  buf[at + 2] = (partition >>> 8) & 0xff
  buf[at + 3] = partition & 0xff
  return murmur3x86_32(buf, PLACEMENT_SEED)
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The placement of every partition for one ownership set. Immutable once computed; compute a
 * new one when the set changes (`computePlacement` is O(R · P · M) plus one sort of P · M pairs).
 */
export class Placement {
  /** Owner names, sorted and deduplicated. */
  readonly owners: readonly string[]
  readonly partitionCount: number
  /** Effective replica count: min(requested N, number of owners). */
  readonly replicaCount: number
  // Invariant: replicas[p] holds `replicaCount` distinct owner indexes, best rank first.
  readonly #replicas: Uint16Array[]
  readonly #scores: Uint32Array // scores[p * M + i]

  /** Use `computePlacement`; the constructor is internal. */
  constructor(init: {
    owners: readonly string[]
    partitionCount: number
    replicaCount: number
    replicas: Uint16Array[]
    scores: Uint32Array
  }) {
    this.owners = init.owners
    this.partitionCount = init.partitionCount
    this.replicaCount = init.replicaCount
    this.#replicas = init.replicas
    this.#scores = init.scores
  }

  /** The partition of a key under this placement's partition count. */
  partitionOf(key: string): number {
    return partitionOf(key, this.partitionCount)
  }

  /**
   * All owners of a partition in preference order: the N balanced replicas, then every other
   * owner by descending score. Empty when the ownership set is empty.
   */
  orderedOwners(partition: number): string[] {
    const replicas = this.#replicas[partition]
    if (replicas === undefined) return []
    const m = this.owners.length
    const taken = new Set<number>(replicas)
    const rest: number[] = []
    for (let i = 0; i < m; i++) if (!taken.has(i)) rest.push(i)
    const base = partition * m
    rest.sort((a, b) => this.#scores[base + b]! - this.#scores[base + a]! || a - b)
    return [...replicas, ...rest].map((i) => this.owners[i]!)
  }

  /** The first `n` owners of a partition (default: the replica count N). */
  preferenceList(partition: number, n: number = this.replicaCount): string[] {
    if (n <= this.replicaCount) {
      const replicas = this.#replicas[partition]
      if (replicas === undefined) return []
      return Array.from(replicas.subarray(0, Math.max(0, n)), (i) => this.owners[i]!)
    }
    return this.orderedOwners(partition).slice(0, n)
  }

  /**
   * Up to `n` fallbacks for a partition: owners after the first N (the replicas) that are
   * alive, in preference order. A coordinator sends to one fallback per unreachable replica.
   */
  fallbacks(partition: number, alive: (name: string) => boolean, n: number): string[] {
    const out: string[] = []
    const ordered = this.orderedOwners(partition)
    for (let i = this.replicaCount; i < ordered.length && out.length < n; i++) {
      if (alive(ordered[i]!)) out.push(ordered[i]!)
    }
    return out
  }

  /** Number of partitions each owner replicates (its storage load), by owner name. */
  replicaLoads(): Map<string, number> {
    const loads = new Map<string, number>(this.owners.map((name) => [name, 0]))
    for (const replicas of this.#replicas) {
      for (const i of replicas) loads.set(this.owners[i]!, loads.get(this.owners[i]!)! + 1)
    }
    return loads
  }
}

function resolveReplicaCount(requested: number | 'all', ownerCount: number): number {
  if (requested === 'all') return ownerCount
  return Math.min(Math.max(0, Math.floor(requested)), ownerCount)
}

/**
 * Computes the placement of every partition for an ownership set. The result depends only on
 * the set of names (order and duplicates in `owners` do not matter) and on `options`.
 * Throws `RangeError` for a partition count outside 1..65536 or a load factor below 1 (a
 * configuration bug, caught at startup) or for more owners than the packed sort supports.
 */
export function computePlacement(
  owners: Iterable<string>,
  options: PlacementOptions = {},
): Placement {
  const partitionCount = options.partitionCount ?? DEFAULT_PARTITION_COUNT
  const loadFactor = options.loadFactor ?? DEFAULT_LOAD_FACTOR
  if (
    !Number.isInteger(partitionCount) ||
    partitionCount < 1 ||
    partitionCount > MAX_PARTITION_COUNT
  ) {
    throw new RangeError(`partitionCount must be an integer in 1..${MAX_PARTITION_COUNT}`)
  }
  if (!(loadFactor >= 1)) throw new RangeError('loadFactor must be >= 1')
  const names = [...new Set(owners)].sort(compareNames)
  const m = names.length
  if (partitionCount * m >= 2 ** 21) throw new RangeError('partitionCount × owners must be < 2^21')
  const replicaCount = resolveReplicaCount(options.replicaCount ?? 3, m)
  const scores = scoreAll(names, partitionCount)
  const replicas = assignRanks({ scores, m, partitionCount, replicaCount, loadFactor })
  return new Placement({ owners: names, partitionCount, replicaCount, replicas, scores })
}

function scoreAll(names: readonly string[], partitionCount: number): Uint32Array {
  const m = names.length
  const scores = new Uint32Array(partitionCount * m)
  for (let i = 0; i < m; i++) {
    const nameBytes = utf8Bytes(names[i]!)
    const scratch = new Uint8Array(nameBytes.length + 4)
    for (let p = 0; p < partitionCount; p++) scores[p * m + i] = scoreOf(p, nameBytes, scratch)
  }
  return scores
}

/** Pairs (p, i) in descending score; ties by lower p, then lower name index. */
function pairsByScore(scores: Uint32Array): Float64Array {
  // NB: the key packs (2^32 − 1 − score) above the pair index (< 2^21), exact within 2^53, so a
  // numeric ascending sort of plain doubles gives the intended total order quickly.
  const keys = new Float64Array(scores.length)
  for (let k = 0; k < scores.length; k++) keys[k] = (0xffffffff - scores[k]!) * 2 ** 21 + k
  return keys.sort()
}

function assignRanks(input: {
  scores: Uint32Array
  m: number
  partitionCount: number
  replicaCount: number
  loadFactor: number
}): Uint16Array[] {
  const { scores, m, partitionCount, replicaCount } = input
  const replicas = Array.from({ length: partitionCount }, () => new Uint16Array(replicaCount))
  if (replicaCount === 0) return replicas
  const order = pairsByScore(scores)
  const cap = Math.ceil((input.loadFactor * partitionCount) / m)
  const filled = new Uint16Array(partitionCount) // ranks filled per partition
  for (let rank = 0; rank < replicaCount; rank++) {
    const load = new Uint32Array(m)
    for (const key of order) {
      const k = key % 2 ** 21
      const p = Math.floor(k / m)
      const i = k - p * m
      if (filled[p] !== rank || load[i]! >= cap || has(replicas[p]!, rank, i)) continue
      replicas[p]![rank] = i
      filled[p] = rank + 1
      load[i]! += 1
    }
    for (let p = 0; p < partitionCount; p++) {
      if (filled[p] === rank) placeOverCap(replicas[p]!, rank, scores, p * m, m)
      filled[p] = rank + 1
    }
  }
  return replicas
}

function has(replicas: Uint16Array, filledCount: number, index: number): boolean {
  for (let r = 0; r < filledCount; r++) if (replicas[r] === index) return true
  return false
}

/** Rare path: every eligible node is at the cap; take the best-scoring eligible one. */
function placeOverCap(
  replicas: Uint16Array,
  rank: number,
  scores: Uint32Array,
  base: number,
  m: number,
): void {
  let best = -1
  for (let i = 0; i < m; i++) {
    if (has(replicas, rank, i)) continue
    if (best < 0 || scores[base + i]! > scores[base + best]!) best = i
  }
  replicas[rank] = best
}

let lastKey = ''
let lastPlacement: Placement | undefined

function cachedPlacement(ownershipSet: Iterable<string>, options: PlacementOptions): Placement {
  const names = [...new Set(ownershipSet)].sort(compareNames)
  const key = JSON.stringify([
    names,
    options.partitionCount,
    options.replicaCount,
    options.loadFactor,
  ])
  if (key !== lastKey || lastPlacement === undefined) {
    lastPlacement = computePlacement(names, options)
    lastKey = key
  }
  return lastPlacement
}

/**
 * The first `n` owners of `partition` for `ownershipSet` (convenience over `computePlacement`,
 * which it caches for the most recent set). `options.replicaCount` (default 3) fixes which prefix
 * is load-balanced; `n` may be smaller or larger.
 */
export function preferenceList(
  partition: number,
  ownershipSet: Iterable<string>,
  n: number,
  options: PlacementOptions = {},
): string[] {
  return cachedPlacement(ownershipSet, options).preferenceList(partition, n)
}

/**
 * Up to `n` alive fallbacks of `partition`: owners after the first N replicas (N from
 * `options.replicaCount`, default 3) for which `alive` holds, in preference order.
 */
export function fallbacks(
  partition: number,
  ownershipSet: Iterable<string>,
  alive: ReadonlySet<string> | ((name: string) => boolean),
  n: number,
  options: PlacementOptions = {},
): string[] {
  const isAlive = typeof alive === 'function' ? alive : (name: string) => alive.has(name)
  return cachedPlacement(ownershipSet, options).fallbacks(partition, isAlive, n)
}
