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
 * - `expired-read`: a read returned a value whose TTL had certainly run out when the read began.
 * - `condition-violated`: a strong conditional put was acknowledged although its condition
 *   could not have held (see "Conditional puts" below).
 *
 * TTL. A put's `expiresAtMs` is Unix ms on the clock of the node that coordinated it; every
 * node decides liveness with its OWN wall clock (`isLive(record, nowMs)`: live while
 * `nowMs < expiresAtMs`). History times are on the observer's clock, so the checker needs to
 * know how the two relate: `wallClock = { offsetMs, uncertaintyMs }` says that at history time
 * `t` every node's wall clock reads within `t + offsetMs ± uncertaintyMs` (the simulator: its
 * epoch, and the largest skew plus clock jump). With that, a value is *certainly expired* at
 * `t` when `expiresAtMs <= t + offsetMs - uncertaintyMs` (every clock is past it) and *possibly
 * expired* when `expiresAtMs <= t + offsetMs + uncertaintyMs` (some clock may be). Without
 * `wallClock` nothing is certainly expired and everything with a TTL is possibly expired, so
 * TTL puts only ever excuse, never accuse. The rules:
 * - a read that found nothing is not stale when the newest acknowledged put before it was
 *   possibly expired by the time the read completed;
 * - a read must not return a value that was certainly expired when the read was invoked (the
 *   coordinator decides after that, on a clock no earlier than that bound): `expired-read`;
 * - expiry never brings an OLDER value back: a read older than an acknowledged put is stale
 *   whether or not that put expired (the newest version still wins, and reads as absent);
 * - final state: an acknowledged put missing from it, or older than it, is not lost when the
 *   put was possibly expired at `finalAtMs` AND the final record is possibly not live (absent,
 *   a tombstone, or itself possibly expired); a live older value is a lost write.
 *
 * Conditional puts (If-Match / If-None-Match, decided per replica by `decideWrite` after
 * last-writer-wins). A `failed` put (412 included) must never be seen: the `phantom` rule.
 * An acknowledged strong conditional put P (version vP) is `condition-violated` when an
 * acknowledged strong write S completed before P was invoked with a version below vP, and:
 * - If-None-Match: S is a put not possibly expired by P's completion, and no delete, no put
 *   with a TTL, no put of unknown version and no write with a version above vP (other than P)
 *   was invoked before P completed; or
 * - If-Match V: S's version is above V (a delete or a put), and no write other than P with an
 *   unknown version or a version above vP was invoked before P completed.
 * Why this is sound: S's and P's quorums share a replica; it held S or a newer record when it
 * decided P. That record is S or a write invoked before P completed; the exclusions leave only
 * live records with versions in [vS, vP), which fail P's condition (If-None-Match: a live
 * record; If-Match: a version other than V, or none) without being "stale" (which counts as an
 * ack). Like the stale-read rule it assumes strong quorums intersect (true replicas, one
 * placement at a time).
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
  | 'expired-read'
  | 'condition-violated'

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
  /** When the record expires (Unix ms), if it has a TTL. */
  readonly expiresAtMs?: number | undefined
}

/** How history time maps to the nodes' wall clocks (see the file header, "TTL"). */
export interface WallClockBound {
  /** Wall clock ≈ history time + offsetMs. */
  readonly offsetMs: number
  /** Every node's wall clock is within ± this of `history time + offsetMs`. */
  readonly uncertaintyMs: number
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
  /** Relates history time to the nodes' wall clocks, for TTLs. @default unknown (lenient) */
  readonly wallClock?: WallClockBound | undefined
  /** History time at which `finalState` was taken. @default the last completion */
  readonly finalAtMs?: number | undefined
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
    wallClock: options.wallClock,
    finalAtMs: options.finalAtMs ?? lastCompletion(operations),
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
    for (const op of ops) {
      if (op.kind === 'get' && op.outcome === 'ok' && op.found === true)
        checkExpiry(view, op, context)
      if (op.kind === 'put' && (op.ifMatch !== undefined || op.ifNoneMatch === true)) {
        checkCondition(view, op, context)
      }
    }
    const final = options.finalState?.get(key)
    if (final !== undefined) {
      finalKeys++
      checkFinal(view, final, context)
    }
  }
  checkCoordinators(operations, context)
  return { violations: context.violations, checked: { strongReads, acknowledgedWrites, finalKeys } }
}

/**
 * Checks that every replica of every key holds the same record after healing. With
 * `expiredBeforeMs` (a wall-clock time every node's clock has passed), a record that expired
 * before it counts as absent: anti-entropy does not exchange expired records, and an expired
 * record reads as absent anyway — but a replica that still holds an OLDER live value next to
 * another's expired one is a divergence.
 */
export function checkReplicasAgree(
  replicas: ReadonlyMap<string, ReadonlyMap<string, FinalRecord | null>>,
  options: { readonly expiredBeforeMs?: number | undefined } = {},
): Violation[] {
  const violations: Violation[] = []
  const { expiredBeforeMs } = options
  const show = (r: FinalRecord | null) =>
    r === null
      ? 'absent'
      : expiredBeforeMs !== undefined &&
          r.expiresAtMs !== undefined &&
          r.expiresAtMs <= expiredBeforeMs
        ? 'absent'
        : r.version
  for (const [key, byNode] of replicas) {
    const seen = new Set([...byNode.values()].map(show))
    if (seen.size <= 1) continue
    const detail = [...byNode].map(
      ([node, r]) =>
        `${node}: ${r === null ? 'absent' : r.version}${r?.expiresAtMs === undefined ? '' : ` (expires ${r.expiresAtMs})`}`,
    )
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
  readonly wallClock: WallClockBound | undefined
  readonly finalAtMs: number
  readonly violations: Violation[]
}

function lastCompletion(operations: readonly Operation[]): number {
  let last = Number.NEGATIVE_INFINITY
  for (const op of operations) if (op.completeMs !== undefined) last = Math.max(last, op.completeMs)
  return last
}

/** Whether `expiresAtMs` may have passed on some node's clock at history time `t`. */
function possiblyExpired(expiresAtMs: number | undefined, t: number, context: Context): boolean {
  if (expiresAtMs === undefined) return false
  const clock = context.wallClock
  return clock === undefined || expiresAtMs <= t + clock.offsetMs + clock.uncertaintyMs
}

/** Whether `expiresAtMs` has passed on every node's clock at history time `t`. */
function certainlyExpired(expiresAtMs: number | undefined, t: number, context: Context): boolean {
  const clock = context.wallClock
  if (expiresAtMs === undefined || clock === undefined) return false
  return expiresAtMs <= t + clock.offsetMs - clock.uncertaintyMs
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
  /** Every put and delete, whatever its outcome. */
  readonly writes: readonly Operation[]
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
  const writes: Operation[] = []
  for (const op of ops) {
    const acked = op.outcome === 'ok'
    if (op.kind !== 'get') writes.push(op)
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
  return {
    key,
    putByValue,
    strongPuts,
    strongPutsMax,
    strongDeletes,
    possibleDeletes,
    strongReads,
    writes,
  }
}

function checkRead(view: KeyView, read: Operation, context: Context): void {
  const newestBefore = newestPutCompletedBefore(view, read.invokeMs)
  if (read.found !== true) {
    if (
      newestBefore !== undefined &&
      !deleteMayFollow(view, newestBefore, read, context) &&
      !possiblyExpired(newestBefore.expiresAtMs, completed(read), context)
    ) {
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
    if (newest !== undefined && !possiblyExpired(newest.expiresAtMs, context.finalAtMs, context)) {
      report(context, 'lost-write', view.key, 'no replica holds the key after healing', [newest])
    }
    return
  }
  const finalMayBeDead =
    final.tombstone || possiblyExpired(final.expiresAtMs, context.finalAtMs, context)
  const finalVersion = parseOrThrow(final.version)
  const source = final.tombstone
    ? undefined
    : sourceOfValue(view, undefined, final.value, final.version, context)
  if (final.tombstone && view.possibleDeletes.length === 0) {
    report(context, 'phantom', view.key, `final tombstone ${final.version} but no delete ran`, [])
  }
  for (const put of view.strongPuts) {
    if (compareVersions(finalVersion, parseOrThrow(put.version!)) < 0) {
      // An expired put reads as absent: an older record that cannot be read is no loss.
      if (finalMayBeDead && possiblyExpired(put.expiresAtMs, context.finalAtMs, context)) continue
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

/**
 * Whether something that reads as absent may lie between `write` and `read` in version order:
 * a delete, or a put (any level, not failed) with a TTL that may have run out by the time the
 * read completed and is not known to be older than `write`.
 */
function deleteMayFollow(
  view: KeyView,
  write: Operation,
  read: Operation,
  context: Context,
): boolean {
  const deleted = view.possibleDeletes.some(
    (d) =>
      d.invokeMs < completed(read) &&
      (!context.realTimeDeletes || !(completed(d) < write.invokeMs)),
  )
  if (deleted) return true
  return view.writes.some(
    (p) =>
      p.kind === 'put' &&
      p !== write &&
      p.outcome !== 'failed' &&
      p.invokeMs < completed(read) &&
      possiblyExpired(p.expiresAtMs, completed(read), context) &&
      (p.version === undefined || versionOf(p) > versionOf(write)),
  )
}

/** `expired-read`: a read returned a value certainly expired when the read was invoked. */
function checkExpiry(view: KeyView, read: Operation, context: Context): void {
  const source = read.readValue === undefined ? undefined : view.putByValue.get(read.readValue)
  if (source === undefined || !certainlyExpired(source.expiresAtMs, read.invokeMs, context)) return
  report(
    context,
    'expired-read',
    view.key,
    `a read began after ${source.value} expired (at ${source.expiresAtMs}) and still returned it`,
    [source, read],
  )
}

/** `condition-violated`; see the file header, "Conditional puts". */
function checkCondition(view: KeyView, put: Operation, context: Context): void {
  if (put.outcome !== 'ok' || put.version === undefined || !context.isStrong(put.consistency)) {
    return
  }
  const vP = versionOf(put)
  const invokedBefore = view.writes.filter(
    (w) => w !== put && w.outcome !== 'failed' && w.invokeMs < completed(put),
  )
  // A write that may hold a version above vP on the shared replica makes P a "stale" ack.
  const mayBeNewer = invokedBefore.some((w) => w.version === undefined || versionOf(w) > vP)
  if (mayBeNewer) return
  const before = (w: Operation) =>
    w.outcome === 'ok' &&
    context.isStrong(w.consistency) &&
    w.version !== undefined &&
    completed(w) < put.invokeMs &&
    versionOf(w) < vP
  let witness: Operation | undefined
  if (put.ifNoneMatch === true) {
    const mayBeAbsent = invokedBefore.some(
      (w) => w.kind === 'delete' || w.expiresAtMs !== undefined,
    )
    if (mayBeAbsent) return
    witness = view.writes.find(
      (w) =>
        w.kind === 'put' && before(w) && !possiblyExpired(w.expiresAtMs, completed(put), context),
    )
  } else if (put.ifMatch !== undefined) {
    const required = parseVersion(put.ifMatch)
    if (required === undefined) return
    const v = sortable(required)
    witness = view.writes.find((w) => before(w) && versionOf(w) > v)
  }
  if (witness === undefined) return
  const condition = put.ifNoneMatch === true ? 'If-None-Match: *' : `If-Match: ${put.ifMatch}`
  report(
    context,
    'condition-violated',
    view.key,
    `a put with ${condition} was acknowledged although ${witness.kind === 'put' ? witness.value : 'a delete'} @ ${witness.version} was acknowledged before it began`,
    [witness, put],
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
