/**
 * The history checker: judges a recorded client history (`history.ts`) and the cluster's final
 * state against Gossamer's promise (architecture §4): *a write acknowledged with `w=quorum` is
 * returned by every later `r=quorum` read, unless a write with a higher version replaced it* —
 * and, after healing, it is still in the final state.
 *
 * Rules, each reported as a {@link Violation} with the operations involved:
 * - `stale-read`: a strong read (r = quorum or all) returned a version lower than an
 *   acknowledged strong write (w = quorum or all) to the same key that completed before the read
 *   was invoked; or it found nothing although no delete could have come after that write.
 * - `lost-write`: an acknowledged strong write is missing from the final state, and the final
 *   record is not a higher version.
 * - `phantom`: a read or the final state shows a value no put wrote, a value whose put certainly
 *   failed, a value whose put was invoked only after the read completed, or a tombstone on a key
 *   no delete could have touched.
 * - `version-mismatch`: one version seen with two different values.
 * - `deleted-reappeared`: after an acknowledged delete, a strong read (or the final state) shows a
 *   value whose put completed before the delete was invoked.
 * - `coordinator-regression`: a node issued a version not greater than one it issued for an
 *   earlier operation (earlier in real time: completed before the later one was invoked).
 * - `replicas-diverge`: after healing, the replicas of a key disagree (see
 *   {@link checkReplicasAgree}).
 *
 * Deletes answer without a version, so the checker orders a delete after a put only by real
 * time: a put that completed before the delete was invoked has a lower version. That holds when
 * the nodes share one wall clock (a loopback cluster without injected skew, as HLC wall parts
 * never run ahead of the newest physical clock reading); turn it off with
 * `realTimeDeletes: false` when a scenario skews clocks. Values must be unique per put — the
 * workload makes them so — because a value is how the checker finds the put behind a read.
 *
 * Pure: no clock, no I/O; histories in unit tests are written by hand.
 */
import { compareVersions, parseVersion, type Version } from '../../hlc/version.ts'
import { describeOperation, type Operation } from './history.ts'

/** What went wrong; see the file header. */
export type ViolationKind =
  | 'stale-read'
  | 'lost-write'
  | 'phantom'
  | 'version-mismatch'
  | 'deleted-reappeared'
  | 'coordinator-regression'
  | 'replicas-diverge'

/** One broken rule, with the operations that show it. */
export interface Violation {
  readonly kind: ViolationKind
  readonly key?: string | undefined
  readonly message: string
  readonly operations: readonly Operation[]
}

/** A key's record in the final state (the newest record its replicas hold after healing). */
export interface FinalRecord {
  readonly version: string
  readonly tombstone: boolean
  /** The value as text; null for a tombstone. */
  readonly value: string | null
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /**
   * The final state of every key the history touched: a record, or null when no replica holds
   * anything. Keys missing from the map are not judged against a final state.
   */
  readonly finalState?: ReadonlyMap<string, FinalRecord | null> | undefined
  /** Order deletes after puts that completed before them (see the file header). @default true */
  readonly realTimeDeletes?: boolean | undefined
  /** Whether a consistency level carries the promise. @default quorum and all */
  readonly isStrong?: ((consistency: string) => boolean) | undefined
}

/** Result of {@link checkHistory}. */
export interface CheckResult {
  readonly violations: readonly Violation[]
  /** Operations looked at per rule, so a report can show the checker was not vacuous. */
  readonly checked: {
    readonly strongReads: number
    readonly acknowledgedWrites: number
    readonly finalKeys: number
  }
}

const defaultIsStrong = (consistency: string) => consistency === 'quorum' || consistency === 'all'

/** Checks `operations` (and, when given, the final state) against the promise. */
export function checkHistory(
  operations: readonly Operation[],
  options: CheckOptions = {},
): CheckResult {
  const context: Context = {
    isStrong: options.isStrong ?? defaultIsStrong,
    realTimeDeletes: options.realTimeDeletes ?? true,
    violations: [],
  }
  const byKey = groupByKey(operations)
  let strongReads = 0
  let acknowledgedWrites = 0
  let finalKeys = 0
  for (const [key, ops] of byKey) {
    const view = keyView(key, ops, context)
    strongReads += view.strongReads.length
    acknowledgedWrites += view.strongPuts.length + view.strongDeletes.length
    for (const read of view.strongReads) checkRead(view, read, context)
    const final = options.finalState?.get(key)
    if (final !== undefined) {
      finalKeys++
      checkFinal(view, final, context)
    }
  }
  checkCoordinators(operations, context)
  return { violations: context.violations, checked: { strongReads, acknowledgedWrites, finalKeys } }
}

/** Checks that every replica of every key holds the same record after healing. */
export function checkReplicasAgree(
  replicas: ReadonlyMap<string, ReadonlyMap<string, FinalRecord | null>>,
): Violation[] {
  const violations: Violation[] = []
  for (const [key, byNode] of replicas) {
    const seen = new Set([...byNode.values()].map((r) => (r === null ? 'absent' : r.version)))
    if (seen.size <= 1) continue
    const detail = [...byNode].map(([node, r]) => `${node}: ${r === null ? 'absent' : r.version}`)
    violations.push({
      kind: 'replicas-diverge',
      key,
      message: `replicas of ${key} disagree after healing: ${detail.join(', ')}`,
      operations: [],
    })
  }
  return violations
}

/** Formats violations for a failure message (at most `limit` of them, with their operations). */
export function formatViolations(violations: readonly Violation[], limit = 10): string {
  const shown = violations.slice(0, limit).map((v) => {
    const ops = v.operations.map((op) => `    ${describeOperation(op)}`).join('\n')
    return `- [${v.kind}] ${v.message}${ops === '' ? '' : `\n${ops}`}`
  })
  const more = violations.length > limit ? `\n… and ${violations.length - limit} more` : ''
  return `${violations.length} violation(s):\n${shown.join('\n')}${more}`
}

interface Context {
  readonly isStrong: (consistency: string) => boolean
  readonly realTimeDeletes: boolean
  readonly violations: Violation[]
}

/** The operations on one key, indexed the ways the rules need. */
interface KeyView {
  readonly key: string
  /** Value → the put that wrote it. */
  readonly putByValue: ReadonlyMap<string, Operation>
  /** Acknowledged strong puts, by completion time, with the running maximum version. */
  readonly strongPuts: readonly Operation[]
  readonly strongPutsMax: readonly Operation[]
  /** Acknowledged strong deletes. */
  readonly strongDeletes: readonly Operation[]
  /** Deletes that may have taken effect (ok, unknown or pending). */
  readonly possibleDeletes: readonly Operation[]
  readonly strongReads: readonly Operation[]
}

function groupByKey(operations: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>()
  for (const op of operations) {
    const list = byKey.get(op.key)
    if (list === undefined) byKey.set(op.key, [op])
    else list.push(op)
  }
  return byKey
}

function keyView(key: string, ops: readonly Operation[], context: Context): KeyView {
  const putByValue = new Map<string, Operation>()
  const strongPuts: Operation[] = []
  const strongDeletes: Operation[] = []
  const possibleDeletes: Operation[] = []
  const strongReads: Operation[] = []
  for (const op of ops) {
    const acked = op.outcome === 'ok'
    if (op.kind === 'put') {
      if (op.value !== undefined) putByValue.set(op.value, op)
      if (acked && context.isStrong(op.consistency) && op.version !== undefined) strongPuts.push(op)
    } else if (op.kind === 'delete') {
      if (op.outcome !== 'failed') possibleDeletes.push(op)
      if (acked && context.isStrong(op.consistency)) strongDeletes.push(op)
    } else if (acked && context.isStrong(op.consistency)) {
      strongReads.push(op)
    }
  }
  strongPuts.sort((a, b) => completed(a) - completed(b))
  const strongPutsMax: Operation[] = []
  for (const put of strongPuts) {
    const previous = strongPutsMax[strongPutsMax.length - 1]
    strongPutsMax.push(
      previous === undefined || versionOf(put) > versionOf(previous) ? put : previous,
    )
  }
  return { key, putByValue, strongPuts, strongPutsMax, strongDeletes, possibleDeletes, strongReads }
}

function checkRead(view: KeyView, read: Operation, context: Context): void {
  const newestBefore = newestPutCompletedBefore(view, read.invokeMs)
  if (read.found !== true) {
    if (newestBefore !== undefined && !deleteMayFollow(view, newestBefore, read, context)) {
      report(context, 'stale-read', view.key, 'read found nothing after an acknowledged write', [
        newestBefore,
        read,
      ])
    }
    return
  }
  const source = sourceOfValue(view, read, read.readValue, read.version, context)
  if (newestBefore !== undefined && versionOf(read) < versionOf(newestBefore)) {
    report(
      context,
      'stale-read',
      view.key,
      `read version ${read.version} is older than the acknowledged ${newestBefore.version}`,
      [newestBefore, read],
    )
  }
  if (source !== undefined && context.realTimeDeletes) {
    const deleted = view.strongDeletes.find(
      (d) => completed(source) < d.invokeMs && completed(d) < read.invokeMs,
    )
    if (deleted !== undefined) {
      report(context, 'deleted-reappeared', view.key, 'read returned a value deleted before it', [
        source,
        deleted,
        read,
      ])
    }
  }
}

/**
 * The put behind a value seen by `observer` (a read, or undefined for the final state); reports
 * a phantom or a version mismatch when there is no such put or it cannot be the source.
 */
function sourceOfValue(
  view: KeyView,
  observer: Operation | undefined,
  value: string | null | undefined,
  version: string | undefined,
  context: Context,
): Operation | undefined {
  const where = observer === undefined ? 'the final state' : 'a read'
  const witnesses = observer === undefined ? [] : [observer]
  const source = value == null ? undefined : view.putByValue.get(value)
  if (source === undefined) {
    report(context, 'phantom', view.key, `${where} shows ${value}, which no put wrote`, witnesses)
    return undefined
  }
  if (source.outcome === 'failed') {
    report(context, 'phantom', view.key, `${where} shows the value of a failed put`, [
      source,
      ...witnesses,
    ])
    return undefined
  }
  if (observer !== undefined && source.invokeMs > completed(observer)) {
    report(context, 'phantom', view.key, 'a read returned a value written after it completed', [
      source,
      observer,
    ])
  }
  if (source.outcome === 'ok' && source.version !== undefined && source.version !== version) {
    report(
      context,
      'version-mismatch',
      view.key,
      `${where} shows ${value} at ${version}, but its put was acknowledged at ${source.version}`,
      [source, ...witnesses],
    )
  }
  return source
}

function checkFinal(view: KeyView, final: FinalRecord | null, context: Context): void {
  const newest = view.strongPutsMax[view.strongPutsMax.length - 1]
  if (final === null) {
    if (newest !== undefined) {
      report(context, 'lost-write', view.key, 'no replica holds the key after healing', [newest])
    }
    return
  }
  const finalVersion = parseOrThrow(final.version)
  const source = final.tombstone
    ? undefined
    : sourceOfValue(view, undefined, final.value, final.version, context)
  if (final.tombstone && view.possibleDeletes.length === 0) {
    report(context, 'phantom', view.key, `final tombstone ${final.version} but no delete ran`, [])
  }
  for (const put of view.strongPuts) {
    if (compareVersions(finalVersion, parseOrThrow(put.version!)) < 0) {
      report(
        context,
        'lost-write',
        view.key,
        `final version ${final.version} is older than the acknowledged ${put.version}`,
        [put],
      )
    }
  }
  if (source !== undefined && context.realTimeDeletes) {
    const deleted = view.strongDeletes.find((d) => completed(source) < d.invokeMs)
    if (deleted !== undefined) {
      report(context, 'deleted-reappeared', view.key, 'the final state holds a deleted value', [
        source,
        deleted,
      ])
    }
  }
}

/** The acknowledged strong put with the highest version among those completed before `timeMs`. */
function newestPutCompletedBefore(view: KeyView, timeMs: number): Operation | undefined {
  let lo = 0
  let hi = view.strongPuts.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (completed(view.strongPuts[mid]!) < timeMs) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? undefined : view.strongPutsMax[lo - 1]
}

/** Whether some delete may lie between `write` and `read` in version order. */
function deleteMayFollow(
  view: KeyView,
  write: Operation,
  read: Operation,
  context: Context,
): boolean {
  return view.possibleDeletes.some(
    (d) =>
      d.invokeMs < completed(read) &&
      (!context.realTimeDeletes || !(completed(d) < write.invokeMs)),
  )
}

function checkCoordinators(operations: readonly Operation[], context: Context): void {
  const byNode = new Map<string, Operation[]>()
  for (const op of operations) {
    if (op.kind !== 'put' || op.outcome !== 'ok' || op.version === undefined) continue
    const nodeId = parseOrThrow(op.version).nodeId
    const list = byNode.get(nodeId)
    if (list === undefined) byNode.set(nodeId, [op])
    else list.push(op)
  }
  for (const [nodeId, puts] of byNode) {
    const byCompletion = [...puts].sort((a, b) => completed(a) - completed(b))
    const byInvocation = [...puts].sort((a, b) => a.invokeMs - b.invokeMs)
    let done = 0
    let highest: Operation | undefined
    for (const later of byInvocation) {
      while (done < byCompletion.length && completed(byCompletion[done]!) < later.invokeMs) {
        const candidate = byCompletion[done++]!
        if (highest === undefined || versionOf(candidate) > versionOf(highest)) highest = candidate
      }
      if (highest !== undefined && compareVersionText(later.version!, highest.version!) <= 0) {
        report(
          context,
          'coordinator-regression',
          later.key,
          `${nodeId} issued ${later.version} after it had issued ${highest.version}`,
          [highest, later],
        )
      }
    }
  }
}

function report(
  context: Context,
  kind: ViolationKind,
  key: string,
  message: string,
  operations: readonly Operation[],
): void {
  context.violations.push({ kind, key, message: `${key}: ${message}`, operations })
}

function completed(op: Operation): number {
  return op.completeMs ?? Number.POSITIVE_INFINITY
}

/**
 * A sortable text form of an operation's version (fixed-width wall and logical parts, then the
 * node id), so versions compare with `<` on strings exactly as {@link compareVersions} orders them.
 */
function versionOf(op: Operation): string {
  const v = parseOrThrow(op.version ?? '')
  return sortable(v)
}

function sortable(v: Version): string {
  return `${String(v.wallMs).padStart(16, '0')}-${String(v.logical).padStart(10, '0')}-${v.nodeId}`
}

function compareVersionText(a: string, b: string): number {
  return compareVersions(parseOrThrow(a), parseOrThrow(b))
}

function parseOrThrow(text: string): Version {
  const version = parseVersion(text)
  if (version === undefined) throw new Error(`history holds a malformed version: ${text}`)
  return version
}
