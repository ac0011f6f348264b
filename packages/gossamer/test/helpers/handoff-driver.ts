// Drives a receiver's hand-off transfers through the shared cores as the drivers do, for the
// rebalancing tests: every `handoff-request` is refused when `handoffSourceRefusal` says so (its
// hand-off fence included), or fails when the source is unreachable; otherwise it is answered by
// `answerHandoffRequest`, with the pages marked `partial` when `handoffSourceIsPartial` says the
// source's copy may be incomplete; every page is persisted into `target` and reported durable.
import type { HandoffPersist, Rebalance } from '../../src/replication/rebalance.ts'
import { answerHandoffRequest } from '../../src/replication/rebalance.ts'
import {
  handoffSourceIsPartial,
  handoffSourceRefusal,
  type PartitionHolding,
} from '../../src/replication/replica.ts'
import { partitionOf } from '../../src/ring/partitioner.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import type { MemoryEngine } from '../../src/storage/memory-engine.ts'

/** A source as the receiver finds it: its store, its view of the partition, reachable or not. */
export interface HandoffSource {
  readonly engine: MemoryEngine
  /** Mutable: a source learns a change (its view moves on) while the receiver streams. */
  view: PartitionHolding
  reachable: boolean
}

/**
 * Runs the receiver's transfers until `partition` is received or `ticks` ticks have passed
 * (each advancing the clock by `tickMs`). Returns the handoff-dones the receiver sent (with
 * what `target` held of `key` when each was sent), which sources delivered which kind of
 * pass, and the clock at the end.
 */
export function driveHandoffs(input: {
  readonly receiver: Rebalance
  readonly sources: ReadonlyMap<string, HandoffSource>
  readonly target: MemoryEngine
  readonly key: string
  readonly partition: number
  readonly partitionCount: number
  readonly nowMs?: number | undefined
  readonly tickMs?: number | undefined
  readonly ticks?: number | undefined
  readonly isOwner?: ((node: string) => boolean) | undefined
  /**
   * A reachable source refused a request (`handoffSourceRefusal`): what the drivers do next
   * (push/pull ownership state with it), e.g. let the test update the source's view.
   */
  readonly onRefusal?: ((source: string, nowMs: number) => void) | undefined
}) {
  const { receiver, sources, target } = input
  let nowMs = input.nowMs ?? 0
  const tickMs = input.tickMs ?? 100
  const isReachable = (node: string) => sources.get(node)?.reachable ?? false
  const done: Array<{ to: string; held: StoredRecord | undefined }> = []
  const passes: Array<{ from: string; partial: boolean }> = []
  const refusals: string[] = []
  const persistAll = (persist: readonly HandoffPersist[], queue: unknown[]) => {
    for (const step of persist) {
      if (step.entries.length > 0) target.writeBatchSync(step.entries)
      receiver.onPersisted(step.page)
      for (const out of step.thenSend) {
        if (out.message.type === 'handoff-done') {
          done.push({ to: out.to, held: target.getRecord(input.key) })
        } else queue.push(out)
      }
    }
  }
  for (let tick = 0; tick < (input.ticks ?? 50); tick++) {
    const first = receiver.tick(nowMs, isReachable, input.isOwner)
    const queue = [...first.send]
    persistAll(first.persist, queue)
    for (let guard = 0; queue.length > 0 && guard < 1_000; guard++) {
      const out = queue.shift()!
      if (out.message.type !== 'handoff-request') continue
      const source = sources.get(out.to)
      if (
        source === undefined ||
        !source.reachable ||
        handoffSourceRefusal(source.view, out.message.replicas) !== undefined
      ) {
        receiver.onFailure(out.to)
        if (source?.reachable === true) {
          refusals.push(out.to)
          input.onRefusal?.(out.to, nowMs)
        }
        continue
      }
      const batch = answerHandoffRequest({
        store: source.engine,
        request: out.message,
        partitionOf: (key) => partitionOf(key, input.partitionCount),
        nowMs,
        partial: handoffSourceIsPartial(source.view),
      })!
      if (batch.cursor === undefined) passes.push({ from: out.to, partial: batch.partial === true })
      const step = receiver.onBatch(out.to, batch, nowMs)
      queue.push(...step.send)
      persistAll(step.persist, queue)
    }
    if (receiver.stateOf(input.partition) === 'received') break
    nowMs += tickMs
  }
  return { done, passes, refusals, nowMs }
}
