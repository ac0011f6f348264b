/**
 * The driver of cluster-wide listing (`GET /v1/kv?prefix=`, `gossamer ls`; docs/cluster.md
 * "Listing keys"): asks every reachable Gossamer node for its local records in key order over
 * RPC (`scan`, all partitions), merges them with `ListingMerge` (newest version per key,
 * tombstones and expired records left out) and answers one page honouring `limit` and the
 * cursor.
 *
 * Enough sources: every partition must have `r` (default quorum) of its replicas among the
 * nodes that answered, or the listing fails with 503 QUORUM_NOT_REACHED — the same promise as a
 * quorum read, per key. Every source is read in bounded pages and bounded rounds, under the
 * request deadline.
 */
import { GossamerError } from '../../errors.ts'
import type { Consistency } from '../../replication/consistency.ts'
import { requiredCount } from '../../replication/consistency.ts'
import type { ReadResult } from '../../replication/coordinator.ts'
import { ListingMerge, needsPrefixKey, type SourcePage } from '../../replication/listing.ts'
import type { Placement } from '../../ring/partitioner.ts'
import type { Engine, ScanPage, StoredRecord } from '../../storage/engine.ts'

/**
 * The `partition` of a `scan` request that means "every partition this node stores": the whole
 * local store in key order (a listing source). Other values scan one partition.
 */
export const SCAN_ALL_PARTITIONS = 0xffff_ffff

/** Largest value bytes one `scan` reply carries (frames are at most 8 MiB). */
const SCAN_REPLY_BYTES_MAX = 4 * 1024 * 1024
/** Records one `scan` reply carries at most. */
const SCAN_REPLY_RECORDS_MAX = 1_000
/** Merge rounds of one listing page before it returns early with a cursor. */
const ROUNDS_MAX = 64

/** What the listing needs from the node. */
export interface ClusterListingDeps {
  readonly self: string
  readonly placement: Placement
  /** Nodes to ask: reachable Gossamer members, this node included. */
  readonly sources: readonly string[]
  /** One page of a peer's local store (the `scan` RPC). */
  readonly scanPeer: (node: string, after: string | undefined, limit: number) => Promise<SourcePage>
  /** One page of this node's local store. */
  readonly scanLocal: (after: string | undefined, limit: number) => SourcePage
  /** A coordinated read (for the key equal to the prefix). */
  readonly read: (key: string, r: Consistency) => ReadResult | Promise<ReadResult>
  readonly nowMs: number
  /** False for a record to ignore (a version too far in the future). */
  readonly isUsable: (record: StoredRecord) => boolean
  /** True once the request deadline has passed: the page returns early, with a cursor. */
  readonly isPastDeadline: () => boolean
}

/** One page of the live keys under `prefix`, across the cluster. */
export async function listCluster(
  deps: ClusterListingDeps,
  options: {
    prefix?: string | undefined
    after?: string | undefined
    limit: number
    r?: Consistency
  },
): Promise<ScanPage> {
  const prefix = options.prefix ?? ''
  const r = options.r ?? 'quorum'
  const merge = new ListingMerge({
    sources: deps.sources,
    prefix,
    after: options.after,
    limit: options.limit,
    nowMs: deps.nowMs,
    isUsable: deps.isUsable,
  })
  assertCovered(deps.placement, merge.sources, r)
  if (needsPrefixKey(prefix, options.after)) {
    const result = await deps.read(prefix, r)
    if (!result.ok) throw new GossamerError('GOSSAMER_ERR_QUORUM_NOT_REACHED', result.error.message)
    if (result.newest !== undefined) merge.offer(prefix, result.newest)
  }
  const pageLimit = Math.min(SCAN_REPLY_RECORDS_MAX, Math.max(1, options.limit))
  for (let round = 0; round < ROUNDS_MAX && !merge.isDone && !deps.isPastDeadline(); round++) {
    const wanted = merge.wanted()
    const pages = await Promise.allSettled(
      wanted.map(({ node, after }) =>
        node === deps.self
          ? Promise.resolve(deps.scanLocal(after, pageLimit))
          : deps.scanPeer(node, after, pageLimit),
      ),
    )
    pages.forEach((outcome, i) => {
      const node = wanted[i]!.node
      if (outcome.status === 'fulfilled') merge.onPage(node, outcome.value)
      else merge.onFailure(node)
    })
    assertCovered(deps.placement, merge.sources, r)
    merge.advance()
  }
  if (!merge.stop()) {
    throw new GossamerError('GOSSAMER_ERR_TIMEOUT', 'the listing made no progress')
  }
  return merge.result()
}

// Every partition needs `r` of its replicas among the sources, as a quorum read of any key would.
function assertCovered(placement: Placement, sources: readonly string[], r: Consistency): void {
  const answering = new Set(sources)
  for (let partition = 0; partition < placement.partitionCount; partition++) {
    const replicas = placement.preferenceList(partition)
    if (replicas.length === 0) continue
    const needed = Math.min(requiredCount(r, replicas.length), replicas.length)
    let have = 0
    for (const node of replicas) if (answering.has(node)) have += 1
    if (have < needed) {
      throw new GossamerError(
        'GOSSAMER_ERR_QUORUM_NOT_REACHED',
        `listing: partition ${partition} has ${have} of the ${needed} replicas it needs ` +
          `(${replicas.join(', ')}) reachable`,
      )
    }
  }
}

/**
 * A `scan` request answered from the local store: with {@link SCAN_ALL_PARTITIONS} the whole
 * store in key order, else one partition; tombstones and expired records included (the
 * coordinator merges by version). Bounded in records and in value bytes.
 */
export function answerScan(
  engine: Engine,
  request: { partition: number; after?: string | undefined; limit: number },
  nowMs: number,
): ScanPage {
  const limit = Math.min(SCAN_REPLY_RECORDS_MAX, Math.max(1, request.limit))
  const page =
    request.partition === SCAN_ALL_PARTITIONS
      ? engine.scan({ after: request.after, limit, includeDead: true, nowMs })
      : engine.scanPartition({
          partition: request.partition,
          after: request.after,
          limit,
          includeDead: true,
          nowMs,
        })
  let bytes = 0
  for (let i = 0; i < page.entries.length; i++) {
    bytes += page.entries[i]!.record.value?.length ?? 0
    if (bytes > SCAN_REPLY_BYTES_MAX && i > 0) {
      const entries = page.entries.slice(0, i)
      return { entries, cursor: entries.at(-1)!.key }
    }
  }
  return page
}
