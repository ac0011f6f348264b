/**
 * Hinted handoff (architecture §6; Dynamo, DeCandia et al. 2007, §4.6). When a replica is
 * unreachable, the coordinator sends its copy of a write to a fallback node with a hint naming
 * the intended replica. The fallback keeps the record as a durable hint — apart from its own
 * data, since it does not own the partition — and delivers it once the intended replica is
 * reachable again. A hint is removed only after the replica acknowledged the delivery (the
 * replica acks after its write is durable), so a crash at any point loses no hint: at worst a
 * hint is delivered twice, which last-writer-wins makes harmless.
 *
 * This file is the hint holder's state machine. It keeps an index of the hints in memory and
 * asks the driver to persist every change (`HintWrite`s, applied to a `HintStore`); at startup
 * the driver loads the stored hints back with `restore`. Reachability comes in as membership
 * events (`setReachable`), time as `tick(nowMs)`; deliveries go out as `hint-deliver` messages.
 *
 * Bounds: at most `maxHintsPerReplica` keys per intended replica (one hint per key: a newer
 * version replaces the older one, so the queue never holds two versions of a key); a full
 * queue refuses new keys, the coordinator then treats the fallback as failed, and anti-entropy
 * repairs what no hint carried. At most `maxInFlightPerReplica` deliveries are outstanding per
 * replica; one that is not acked within `deliveryTimeoutMs` is sent again.
 *
 * Departed replicas. A hint's intended replica may leave the ownership set (a graceful leave,
 * or an operator's removal) before the hint is delivered; it will never be reachable as an owner
 * again, and its partitions moved to other nodes. The hint then carries a write that may be on
 * fewer than N of the key's current replicas, so `retarget` re-queues it for the key's current
 * replicas (a copy for this node itself comes back as a local write) and removes the old one.
 * The new hints are stored at once, like any accepted hint (so the store sees them before the
 * removal an ack of their delivery causes); the old ones are removed only once the new hints
 * and the local copy are durable, so a crash in between at worst delivers twice. A copy a
 * full queue refuses is dropped and counted (`droppedCount`): anti-entropy between the current
 * replicas repairs what it carried.
 */
import { compareVersions, type Version } from '../hlc/version.ts'
import type { StoredRecord } from '../storage/engine.ts'
import type { HintAckMessage, Outgoing } from './messages.ts'

/** A write held for a replica that was unreachable. */
export interface Hint {
  readonly intendedReplica: string
  readonly key: string
  readonly record: StoredRecord
}

/** A change to the durable hint store, for the driver to apply. */
export type HintWrite =
  | { readonly op: 'put'; readonly hint: Hint }
  /** Remove the hint for (replica, key) only if its version is still `version`. */
  | {
      readonly op: 'remove'
      readonly intendedReplica: string
      readonly key: string
      readonly version: Version
    }

/** The durable hint store port: the driver applies writes in order and lists at startup. */
export interface HintStore {
  apply(writes: readonly HintWrite[]): void
  list(): Hint[]
}

/** Settings of the hint holder. Plain data. */
export interface HintedHandoffConfig {
  /** Most hinted keys held for one intended replica. @default 10_000 */
  readonly maxHintsPerReplica: number
  /** Most deliveries outstanding to one replica. @default 64 */
  readonly maxInFlightPerReplica: number
  /** A delivery not acked within this time is sent again. @default 5_000 */
  readonly deliveryTimeoutMs: number
}

/** Defaults for {@link HintedHandoffConfig}. */
export const HINTED_HANDOFF_DEFAULTS: HintedHandoffConfig = {
  maxHintsPerReplica: 10_000,
  maxInFlightPerReplica: 64,
  deliveryTimeoutMs: 5_000,
}

interface HeldHint {
  record: StoredRecord
  /** The delivery in flight, if any, and when it may be retried. */
  delivery?: { readonly deliveryId: number; readonly version: Version; readonly retryAtMs: number }
}

interface Delivery {
  readonly replica: string
  readonly key: string
}

/** The hint holder. See the file header. */
export class HintedHandoff {
  readonly config: HintedHandoffConfig
  // Per intended replica: key → hint, in arrival order. Replicas iterate in sorted order.
  readonly #queues = new Map<string, Map<string, HeldHint>>()
  readonly #deliveries = new Map<number, Delivery>()
  readonly #reachable = new Set<string>()
  #nextDeliveryId = 1
  #refusedCount = 0
  #retargetedCount = 0
  #droppedCount = 0

  constructor(config: Partial<HintedHandoffConfig> = {}) {
    this.config = { ...HINTED_HANDOFF_DEFAULTS, ...config }
  }

  /** Loads the hints found in the durable store at startup (no writes are emitted). */
  restore(hints: Iterable<Hint>): void {
    for (const hint of hints) this.#hold(hint)
  }

  /**
   * Takes a hint. Returns the store writes to persist before acking the coordinator, or
   * `accepted: false` when the replica's queue is full (the coordinator tries another fallback).
   */
  accept(hint: Hint): { readonly accepted: boolean; readonly writes: HintWrite[] } {
    const queue = this.#queues.get(hint.intendedReplica)
    const held = queue?.get(hint.key)
    if (held !== undefined && compareVersions(held.record.version, hint.record.version) >= 0) {
      return { accepted: true, writes: [] } // already holding this or a newer version
    }
    if (held === undefined && (queue?.size ?? 0) >= this.config.maxHintsPerReplica) {
      this.#refusedCount += 1
      return { accepted: false, writes: [] }
    }
    this.#hold(hint)
    return { accepted: true, writes: [{ op: 'put', hint }] }
  }

  /** Membership says `node` is reachable (alive) or not. Deliveries start on the next tick. */
  setReachable(node: string, reachable: boolean): void {
    if (reachable) this.#reachable.add(node)
    else this.#reachable.delete(node)
  }

  /** Sends deliveries to every reachable replica with hints, up to the in-flight bound. */
  tick(nowMs: number): Outgoing[] {
    const send: Outgoing[] = []
    for (const replica of [...this.#queues.keys()].sort()) {
      if (this.#reachable.has(replica)) send.push(...this.#deliver(replica, nowMs))
    }
    return send
  }

  /**
   * The replica acked a delivery (its write is durable, or it already held something newer).
   * Removes the hint unless a newer one replaced it meanwhile; sends more to that replica.
   */
  onAck(
    from: string,
    ack: HintAckMessage,
    nowMs: number,
  ): { readonly writes: HintWrite[]; readonly send: Outgoing[] } {
    const delivery = this.#deliveries.get(ack.deliveryId)
    if (delivery === undefined || delivery.replica !== from) return { writes: [], send: [] }
    this.#deliveries.delete(ack.deliveryId)
    const queue = this.#queues.get(from)
    const held = queue?.get(delivery.key)
    const writes: HintWrite[] = []
    if (queue !== undefined && held?.delivery?.deliveryId === ack.deliveryId) {
      if (compareVersions(held.record.version, held.delivery.version) === 0) {
        queue.delete(delivery.key)
        if (queue.size === 0) this.#queues.delete(from)
        writes.push({
          op: 'remove',
          intendedReplica: from,
          key: delivery.key,
          version: held.record.version,
        })
      } else {
        held.delivery = undefined // a newer hint arrived: deliver that one
      }
    }
    const send = this.#reachable.has(from) ? this.#deliver(from, nowMs) : []
    return { writes, send }
  }

  /** The transport failed a delivery: it will be retried after `deliveryTimeoutMs`. */
  onFailure(from: string, deliveryId: number): void {
    const delivery = this.#deliveries.get(deliveryId)
    if (delivery === undefined || delivery.replica !== from) return
    this.#deliveries.delete(deliveryId)
  }

  /**
   * Re-targets the hints held for nodes that are no longer owners (`isOwner` false) to each
   * key's current replicas (`replicasOf`, the placement in force); see the file header. The
   * driver applies `writes` (the new hints) to the hint store now, in order with every other
   * hint write, persists `local` (the copies for this node, `self`) into its data, and applies
   * `removals` (the old hints) once both are durable. A key whose placement has no replica at
   * all keeps its hint.
   */
  retarget(input: {
    readonly self: string
    readonly isOwner: (node: string) => boolean
    readonly replicasOf: (key: string) => readonly string[]
  }): {
    readonly writes: HintWrite[]
    readonly local: Array<{ readonly key: string; readonly record: StoredRecord }>
    readonly removals: HintWrite[]
    /** Hints moved off a departed replica. */
    readonly retargeted: number
    /** Copies a full queue refused (dropped; anti-entropy covers them). */
    readonly dropped: number
  } {
    const puts: HintWrite[] = []
    const removes: HintWrite[] = []
    const local: Array<{ key: string; record: StoredRecord }> = []
    let retargeted = 0
    let dropped = 0
    for (const departed of [...this.#queues.keys()].sort()) {
      if (departed === input.self || input.isOwner(departed)) continue
      const queue = this.#queues.get(departed)
      if (queue === undefined) continue
      for (const [key, held] of [...queue]) {
        const targets = input
          .replicasOf(key)
          .filter((node) => node === input.self || (node !== departed && input.isOwner(node)))
        if (targets.length === 0) continue
        for (const target of targets) {
          if (target === input.self) {
            local.push({ key, record: held.record })
            continue
          }
          const outcome = this.accept({ intendedReplica: target, key, record: held.record })
          if (outcome.accepted) puts.push(...outcome.writes)
          else dropped += 1
        }
        if (held.delivery !== undefined) this.#deliveries.delete(held.delivery.deliveryId)
        queue.delete(key)
        removes.push({
          op: 'remove',
          intendedReplica: departed,
          key,
          version: held.record.version,
        })
        retargeted += 1
      }
      if (queue.size === 0) this.#queues.delete(departed)
    }
    this.#droppedCount += dropped
    this.#retargetedCount += retargeted
    return { writes: puts, local, removals: removes, retargeted, dropped }
  }

  /** Intended replicas this node holds hints for (sorted). */
  heldFor(): string[] {
    return [...this.#queues.keys()].sort()
  }

  /** Hints moved off departed replicas by `retarget`, since start. */
  get retargetedCount(): number {
    return this.#retargetedCount
  }

  /** Re-targeted copies refused by a full queue (dropped), since start. */
  get droppedCount(): number {
    return this.#droppedCount
  }

  /** Hints held for `replica`, or for all replicas. */
  pendingCount(replica?: string): number {
    if (replica !== undefined) return this.#queues.get(replica)?.size ?? 0
    let total = 0
    for (const queue of this.#queues.values()) total += queue.size
    return total
  }

  /** Hints refused because a queue was full, since start. */
  get refusedCount(): number {
    return this.#refusedCount
  }

  #hold(hint: Hint): void {
    let queue = this.#queues.get(hint.intendedReplica)
    if (queue === undefined) {
      queue = new Map()
      this.#queues.set(hint.intendedReplica, queue)
    }
    const held = queue.get(hint.key)
    if (held === undefined) queue.set(hint.key, { record: hint.record })
    else if (compareVersions(held.record.version, hint.record.version) < 0) {
      held.record = hint.record
    }
  }

  #deliver(replica: string, nowMs: number): Outgoing[] {
    const queue = this.#queues.get(replica)
    if (queue === undefined) return []
    let inFlight = 0
    for (const held of queue.values()) {
      if (held.delivery !== undefined && held.delivery.retryAtMs > nowMs) inFlight += 1
    }
    const send: Outgoing[] = []
    for (const [key, held] of queue) {
      if (inFlight >= this.config.maxInFlightPerReplica) break
      if (held.delivery !== undefined && held.delivery.retryAtMs > nowMs) continue
      if (held.delivery !== undefined) this.#deliveries.delete(held.delivery.deliveryId)
      const deliveryId = this.#nextDeliveryId++
      held.delivery = {
        deliveryId,
        version: held.record.version,
        retryAtMs: nowMs + this.config.deliveryTimeoutMs,
      }
      this.#deliveries.set(deliveryId, { replica, key })
      inFlight += 1
      send.push({
        to: replica,
        message: { type: 'hint-deliver', deliveryId, key, record: held.record },
      })
    }
    return send
  }
}

/**
 * An in-memory `HintStore` (tests and the simulator). A production store keeps the same
 * (replica, key) → record map in its own LMDB database, apart from the data.
 */
export class MemoryHintStore implements HintStore {
  readonly #hints = new Map<string, Hint>()

  apply(writes: readonly HintWrite[]): void {
    for (const write of writes) {
      if (write.op === 'put') {
        this.#hints.set(hintStoreKey(write.hint.intendedReplica, write.hint.key), write.hint)
        continue
      }
      const id = hintStoreKey(write.intendedReplica, write.key)
      const stored = this.#hints.get(id)
      if (stored !== undefined && compareVersions(stored.record.version, write.version) === 0) {
        this.#hints.delete(id)
      }
    }
  }

  list(): Hint[] {
    return [...this.#hints.values()]
  }
}

/**
 * The storage key of a hint in a key-ordered store: `<replica length in UTF-16 units>:<replica><key>`.
 * The length prefix keeps any replica name and key unambiguous, and groups one replica's hints
 * together so a store can scan them by prefix.
 */
export function hintStoreKey(intendedReplica: string, key: string): string {
  return `${intendedReplica.length}:${intendedReplica}${key}`
}
