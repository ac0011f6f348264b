/**
 * Workload helpers for the multi-process cluster tests: bulk writes through random nodes with
 * bounded concurrency that remember the version each key was acknowledged with, and bulk checks
 * that reads (or local replicas) return exactly those versions. A check collects every mismatch
 * and reports the first few, so one failure message shows the shape of a problem.
 */

import type { PartitionsView } from './cluster-harness.ts'
import { type Cluster, compareVersionText, forEachBounded, replicasOf } from './cluster-harness.ts'

/** What the cluster acknowledged for a key: the value and its version. */
export interface Acked {
  readonly value: string
  readonly version: string
}

/** Keys `prefix-000000` .. in order. */
export function keyNames(prefix: string, count: number, start = 0): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(start + i).padStart(6, '0')}`)
}

/** Options of {@link writeKeys}. */
export interface WriteOptions {
  /** Name of the node to send the n-th attempt through. */
  readonly through: (attempt: number) => string
  /** The value for a key (called once per key). */
  readonly valueOf: (key: string) => string
  /** `w` query parameter. @default 'quorum' */
  readonly w?: string
  /** Requests in flight. @default 32 */
  readonly concurrency?: number
  /** Attempts per key before it counts as failed (a retry is a new write). @default 4 */
  readonly attempts?: number
}

/** Result of {@link writeKeys}. */
export interface WriteResult {
  /** Keys whose write was acknowledged, with the acknowledged version. */
  readonly acked: Map<string, Acked>
  /** Keys never acknowledged, with the last answer. */
  readonly failed: Map<string, string>
  /** Attempts that did not succeed (including ones a retry then fixed). */
  readonly failedAttempts: number
}

/** Writes every key once (retrying failed attempts through other nodes). */
export async function writeKeys(
  cluster: Cluster,
  keys: readonly string[],
  options: WriteOptions,
): Promise<WriteResult> {
  const acked = new Map<string, Acked>()
  const failed = new Map<string, string>()
  let attemptNo = 0
  let failedAttempts = 0
  const maxAttempts = options.attempts ?? 4
  await forEachBounded(keys.length, options.concurrency ?? 32, async (i) => {
    const key = keys[i]!
    const value = options.valueOf(key)
    let last = ''
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const node = options.through(attemptNo++)
      try {
        const result = await cluster.put(node, key, value, { w: options.w ?? 'quorum' })
        if ((result.status === 200 || result.status === 201) && result.version !== undefined) {
          acked.set(key, { value, version: result.version })
          failed.delete(key)
          return
        }
        last = `${node}: ${result.status} ${JSON.stringify(result.body)}`
      } catch (error) {
        last = `${node}: ${(error as Error).message}`
      }
      failedAttempts++
      failed.set(key, last)
    }
  })
  return { acked, failed, failedAttempts }
}

/** A list of problems, keeping the first `keep` for the message and counting the rest. */
export class Mismatches {
  readonly samples: string[] = []
  count = 0
  readonly #keep: number

  constructor(keep = 12) {
    this.#keep = keep
  }

  add(text: string): void {
    this.count++
    if (this.samples.length < this.#keep) this.samples.push(text)
  }

  /** Empty string when there were none. */
  summary(what: string): string {
    if (this.count === 0) return ''
    return `${this.count} ${what}; first ones:\n  ${this.samples.join('\n  ')}`
  }
}

/**
 * Reads every key through `node` with `r` and records each answer that is not the acknowledged
 * value and version (a newer version than the ack is fine only if `allowNewer`).
 */
export async function checkReads(
  cluster: Cluster,
  node: string,
  expected: ReadonlyMap<string, Acked>,
  options: { r?: string; concurrency?: number } = {},
): Promise<Mismatches> {
  const problems = new Mismatches()
  const keys = [...expected.keys()]
  await forEachBounded(keys.length, options.concurrency ?? 32, async (i) => {
    const key = keys[i]!
    const want = expected.get(key)!
    try {
      const got = await cluster.get(node, key, { r: options.r ?? 'quorum' })
      if (got.status !== 200) {
        problems.add(`${key} via ${node}: ${got.status} ${JSON.stringify(got.body)}`)
      } else if (got.value !== want.value || got.version !== want.version) {
        problems.add(
          `${key} via ${node}: got ${got.version}=${got.value}, want ${want.version}=${want.value}`,
        )
      }
    } catch (error) {
      problems.add(`${key} via ${node}: ${(error as Error).message}`)
    }
  })
  return problems
}

/**
 * For every key that `node` replicates in `placement`, compares the node's local record
 * (`/v1/admin/local`) with the acknowledged version. Returns the mismatches and how many keys
 * the node replicates.
 */
export async function checkLocalCopies(
  cluster: Cluster,
  node: string,
  expected: ReadonlyMap<string, Acked>,
  placement: PartitionsView,
  options: { concurrency?: number } = {},
): Promise<{ problems: Mismatches; replicated: number }> {
  const problems = new Mismatches()
  const keys = [...expected.keys()].filter((key) => replicasOf(placement, key).includes(node))
  await forEachBounded(keys.length, options.concurrency ?? 32, async (i) => {
    const key = keys[i]!
    const want = expected.get(key)!
    try {
      const local = await cluster.local(node, key)
      if (local === undefined) problems.add(`${key} on ${node}: missing (want ${want.version})`)
      else if (local.tombstone || local.version !== want.version) {
        problems.add(`${key} on ${node}: has ${local.version}, want ${want.version}`)
      } else if (Buffer.from(local.value ?? '', 'base64').toString('utf8') !== want.value) {
        problems.add(`${key} on ${node}: right version ${want.version} but another value`)
      }
    } catch (error) {
      problems.add(`${key} on ${node}: ${(error as Error).message}`)
    }
  })
  return { problems, replicated: keys.length }
}

/** Counts local copies of `keys` on `node` that are at least as new as acknowledged. */
export async function countUpToDate(
  cluster: Cluster,
  node: string,
  expected: ReadonlyMap<string, Acked>,
  keys: readonly string[],
  concurrency = 32,
): Promise<number> {
  let upToDate = 0
  await forEachBounded(keys.length, concurrency, async (i) => {
    const key = keys[i]!
    const local = await cluster.local(node, key)
    if (local !== undefined && compareVersionText(local.version, expected.get(key)!.version) >= 0) {
      upToDate++
    }
  })
  return upToDate
}

/** Sum of `hintsPending` over the running nodes. */
export async function totalHintsPending(cluster: Cluster): Promise<number> {
  let total = 0
  for (const node of cluster.up) total += (await cluster.stats(node.name)).hintsPending
  return total
}
