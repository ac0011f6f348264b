/**
 * The node-to-node messages of replication (architecture §6), as plain data: a discriminated
 * union on `type`, holding only strings, numbers, booleans, arrays, `Uint8Array` and the
 * storage types (`StoredRecord`, `Version`). The cores in this folder emit and consume these
 * values and never encode them; the RPC layer (`src/rpc/`) gives each `type` a method number and
 * a binary layout. Every field is needed by a core: nothing here is diagnostic only.
 *
 * Correlation: a reply carries the id of the request it answers (`requestId`, `deliveryId`,
 * `sessionId`, `transferId`). Ids are chosen by the sending core and are only unique per sender,
 * so a driver routes a reply by (peer, id), or, simpler, by `type` to the one core that owns it.
 *
 * Side effects that are not messages (records to persist, hints to store) are separate output
 * types declared next to the core that emits them; a message that must follow a write travels
 * in an `AfterPersist` so the driver sends it only once the write is durable.
 */
import type { Version } from '../hlc/version.ts'
import type { StoredRecord, WriteCondition, WriteEntry } from '../storage/engine.ts'

/** A key with its stored record (tombstones included). */
export interface KeyedRecord {
  readonly key: string
  readonly record: StoredRecord
}

/** Coordinator → replica (or fallback): store this record. */
export interface PutMessage {
  readonly type: 'put'
  readonly requestId: number
  readonly key: string
  readonly record: StoredRecord
  /**
   * Set when the receiver is a fallback: the replica the write was meant for. The fallback
   * keeps the record as a durable hint (not in its data store) and delivers it later.
   */
  readonly hintFor?: string | undefined
  /** Optional If-Match / If-None-Match condition, checked by each replica. */
  readonly condition?: WriteCondition | undefined
  /**
   * The placement fence: the key's partition's replicas in the coordinator's placement (set on
   * a coordinator's replica put, not on a hinted one, a read repair or a drain). A replica
   * whose applied placement gives the partition other replicas refuses (`replica.ts`
   * `placementFenceRefusal`).
   */
  readonly replicas?: readonly string[] | undefined
}

/** How a replica handled a put. */
export type PutStatus =
  /** Written (or, for a hinted put, stored as a hint). */
  | 'applied'
  /** The replica already holds this version or a newer one: durable all the same. */
  | 'stale'
  /** The write condition did not hold on this replica; nothing was written. */
  | 'condition_failed'
  /**
   * Nothing was stored: a fallback could not take the hint (its queue for that replica is
   * full), or a replica put reached a node that does not hold the key's partition in its
   * applied placement (`replica.ts` `partitionRefusal`).
   */
  | 'refused'

/** Replica → coordinator: the answer to a `put`, sent only after the write is durable. */
export interface PutReplyMessage {
  readonly type: 'put-reply'
  readonly requestId: number
  readonly status: PutStatus
  /** The replica's version when it did not apply the write and holds one. */
  readonly current?: Version | undefined
  /**
   * The replica took the put as a new replica of the key's partition still streaming it in (it
   * was no replica under the placement before the change: `replica.ts`
   * `isNewReplicaStreamingIn`). Its ack is durable and counts towards W, but not towards the
   * acks a write needs from settled replicas (`coordinator.ts`, "Acks from new replicas still
   * streaming in").
   */
  readonly streamingIn?: boolean | undefined
}

/** Coordinator → replica: read one key (the raw record, tombstones included). */
export interface GetMessage {
  readonly type: 'get'
  readonly requestId: number
  readonly key: string
  /**
   * The placement fence, as on `PutMessage`: set on a coordinator's get, not on one a receiver
   * forwards to the old replicas.
   */
  readonly replicas?: readonly string[] | undefined
}

/** Replica → coordinator: the raw record, or undefined when the replica has none. */
export interface GetReplyMessage {
  readonly type: 'get-reply'
  readonly requestId: number
  readonly record: StoredRecord | undefined
}

/** Hint holder → intended replica: a write it missed. Handled like a `put` by the replica. */
export interface HintDeliverMessage {
  readonly type: 'hint-deliver'
  readonly deliveryId: number
  readonly key: string
  readonly record: StoredRecord
}

/** Intended replica → hint holder, after the delivered record is durable (or was stale). */
export interface HintAckMessage {
  readonly type: 'hint-ack'
  readonly deliveryId: number
}

/** Shape of a hash tree; both sides of an exchange must build the same shape. */
export interface TreeShape {
  /** Children per inner node. */
  readonly fanout: number
  /** Levels below the root; the tree has `fanout ** depth` leaf buckets. */
  readonly depth: number
}

/** Anti-entropy initiator → peer: send me your hashes of these nodes at this level. */
export interface AaeHashesRequestMessage {
  readonly type: 'aae-hashes-request'
  readonly sessionId: number
  readonly partition: number
  readonly shape: TreeShape
  /** 0 = root, `shape.depth` = leaf buckets. */
  readonly level: number
  /** Node indexes within the level, ascending. */
  readonly indexes: readonly number[]
}

/** Peer → initiator: the requested hashes, in request order. */
export interface AaeHashesMessage {
  readonly type: 'aae-hashes'
  readonly sessionId: number
  readonly partition: number
  readonly level: number
  readonly hashes: ReadonlyArray<{ readonly index: number; readonly hash: string }>
}

/** What a hash-tree leaf knows about a key: enough to decide who is newer. */
export interface KeyVersion {
  readonly key: string
  readonly version: Version
  readonly tombstone: boolean
}

/** Initiator → peer: my entries in these differing leaf buckets. */
export interface AaeKeysMessage {
  readonly type: 'aae-keys'
  readonly sessionId: number
  readonly partition: number
  readonly shape: TreeShape
  readonly buckets: readonly number[]
  readonly entries: readonly KeyVersion[]
}

/**
 * Peer → initiator: records the peer holds newer than (or missing from) the initiator's list,
 * and the keys the peer wants because the initiator's version is newer or the peer lacks them.
 */
export interface AaeKeysReplyMessage {
  readonly type: 'aae-keys-reply'
  readonly sessionId: number
  readonly partition: number
  readonly records: readonly KeyedRecord[]
  readonly wanted: readonly string[]
}

/** Initiator → peer: the records the peer wanted, plus corrections of stale records it sent. */
export interface AaePushMessage {
  readonly type: 'aae-push'
  readonly sessionId: number
  readonly partition: number
  readonly records: readonly KeyedRecord[]
}

/** New owner → old owner: send me the next page of this partition, after `after`. */
export interface HandoffRequestMessage {
  readonly type: 'handoff-request'
  readonly transferId: number
  readonly partition: number
  readonly after?: string | undefined
  readonly limit: number
  /**
   * The hand-off fence: the partition's replicas in the receiver's applied placement (the
   * newest placement it has applied when it sends the request, not the one its transfer was
   * planned under). A source whose applied placement gives the partition other replicas refuses
   * instead of serving pages (`replica.ts` `handoffSourceRefusal`), so a pass counts only from a
   * source that knows the placement the receiver streams for, and that refuses the older
   * placement's puts from then on. Absent: nothing is checked.
   */
  readonly replicas?: readonly string[] | undefined
}

/** Old owner → new owner: one page of a partition; `cursor` absent means the stream is done. */
export interface HandoffBatchMessage {
  readonly type: 'handoff-batch'
  readonly transferId: number
  readonly partition: number
  readonly entries: readonly KeyedRecord[]
  readonly cursor?: string | undefined
  /**
   * Set when the source's copy of the partition may be incomplete (`replica.ts`
   * `handoffSourceIsPartial`: it is still streaming the partition in itself, hands off a copy
   * whose transfer was cut short, dropped it, or holds only leftovers). The receiver persists
   * the page (it is data), but a pass with such a page does not count as a full pass of an old
   * replica (`Rebalance.onBatch`). Absent: the source holds a complete copy.
   */
  readonly partial?: boolean | undefined
}

/** New owner → old owners: I hold partition `partition` now; you may drop it. */
export interface HandoffDoneMessage {
  readonly type: 'handoff-done'
  readonly partition: number
}

/** Every replication message. */
export type ReplicationMessage =
  | PutMessage
  | PutReplyMessage
  | GetMessage
  | GetReplyMessage
  | HintDeliverMessage
  | HintAckMessage
  | AaeHashesRequestMessage
  | AaeHashesMessage
  | AaeKeysMessage
  | AaeKeysReplyMessage
  | AaePushMessage
  | HandoffRequestMessage
  | HandoffBatchMessage
  | HandoffDoneMessage

/** A message addressed to a node (by its node name; may be the sending node itself). */
export interface Outgoing {
  readonly to: string
  readonly message: ReplicationMessage
}

/**
 * Records to write, then messages to send once the write is durable (a replica acks only after
 * its write is on disk). The driver writes `entries` with `Engine.writeBatch` (last-writer-wins
 * applies, so a stale entry is simply not written) and then sends `thenSend`.
 */
export interface AfterPersist {
  readonly entries: readonly WriteEntry[]
  readonly thenSend: readonly Outgoing[]
}
