/**
 * State transitions of the node table on alive, suspect and dead messages, refutation, and
 * suspicion expiry — reference §6.3 and memberlist `state.go` (aliveNode, suspectNode,
 * deadNode, refute). Messages arrive from gossip, push/pull merges, or ourselves; each applied
 * change is re-broadcast so that news spreads epidemically, and each visible change emits a
 * join / leave / update event. Incarnation numbers order news about a node: only the node
 * itself raises its incarnation (refuting), and older news is ignored.
 */

import { metaMaxSize } from '../wire/limits.ts'
import type { Alive, Dead, Suspect } from '../wire/messages.ts'
import type { CoreContext } from './core-context.ts'
import { suspicionConfirmationsWanted, suspicionTimeoutMs } from './formulas.ts'
import { isDeadOrLeft, type MemberRecord, toNodeInfo } from './member-table.ts'
import { sameIp } from './ports.ts'
import { Suspicion } from './suspicion.ts'

/** Options of {@link applyAlive}. */
export interface ApplyAliveOptions {
  /** True for our own alive messages (startup, updateNode): never refute, always apply. */
  readonly bootstrap?: boolean
  /** Called when the resulting broadcast finishes (updateNode waits on it). */
  readonly onFinished?: () => void
}

/** Largest incarnation; refutation saturates here rather than wrapping to 0 (see refute). */
const INCARNATION_MAX = 0xffffffff

/** Checks §2.3: with >= 3 Vsn bytes, PMin and PMax must be non-zero and ordered. */
function isVsnValid(vsn: Uint8Array): boolean {
  if (vsn.length < 3) return true
  const pMin = vsn[0]!
  const pMax = vsn[1]!
  return pMin !== 0 && pMax !== 0 && pMin <= pMax
}

/**
 * Field checks on an alive message before it may touch the table. Besides §2.3 and the address
 * length: metadata over MetaMaxSize (512) is refused, since no memberlist node sends it and we
 * would re-gossip and push/pull it; and a node we do not know yet must come with a full 6-byte
 * Vsn, otherwise we would store zeros that every receiver of our re-gossip rejects (PMin 0) and
 * that make every push/pull fail verifyProtocol (PMax 0) until the entry is reaped.
 */
function isAliveWellFormed(ctx: CoreContext, a: Alive): boolean {
  if (!isVsnValid(a.vsn) || (a.addr.length !== 4 && a.addr.length !== 16)) return false
  if ((a.meta?.length ?? 0) > metaMaxSize) return false
  if (a.vsn.length >= 6 && !canTalkTo(ctx.localVsn(), a.vsn)) return false
  return a.vsn.length >= 6 || ctx.table.get(a.node) !== undefined
}

/**
 * Whether a node advertising `theirs` could exchange state with us at all: each side's current
 * protocol and delegate versions inside the other's [min, max] (the pairwise form of
 * verifyProtocol). Go's aliveNode checks only that the ranges are well formed, so one forged
 * alive for a node that speaks e.g. protocol [1, 1] at version 0 enters every table and narrows
 * the cluster's range below what every real member speaks: every push/pull then fails
 * verifyProtocol until that entry is reaped, and a forged leave is never refuted (found by the
 * hostile-input property test, fast-check seed 989972054). Such a node could never push/pull
 * with us anyway, so we refuse its alive.
 */
function canTalkTo(ours: Uint8Array, theirs: Uint8Array): boolean {
  const within = (value: number, min: number, max: number) => value >= min && value <= max
  return (
    within(theirs[2]!, ours[0]!, ours[1]!) &&
    within(ours[2]!, theirs[0]!, theirs[1]!) &&
    within(theirs[5]!, ours[3]!, ours[4]!) &&
    within(ours[5]!, theirs[3]!, theirs[4]!)
  )
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return sameIp(a, b)
}

function emptyVsn(): Uint8Array {
  return new Uint8Array(6)
}

/** Handles an alive message (Go's aliveNode). */
export function applyAlive(ctx: CoreContext, a: Alive, options: ApplyAliveOptions = {}): void {
  const isLocal = a.node === ctx.config.name
  if (ctx.isLeaving && isLocal) return
  if (!isAliveWellFormed(ctx, a)) {
    ctx.metrics.malformedDropped++
    return
  }
  const meta = a.meta ?? new Uint8Array(0)
  const vsn = a.vsn.length >= 6 ? a.vsn.slice(0, 6) : undefined
  const veto = ctx.delegates.notifyAlive?.({
    name: a.node,
    addr: a.addr,
    port: a.port,
    meta,
    incarnation: a.incarnation,
    state: 'alive',
    vsn: vsnTuple(vsn ?? emptyVsn()),
  })
  if (veto !== undefined) return
  let record = ctx.table.get(a.node)
  let updatesNode = false
  if (record === undefined) {
    record = {
      name: a.node,
      addr: a.addr.slice(),
      port: a.port,
      meta,
      vsn: vsn ?? emptyVsn(),
      incarnation: 0,
      state: 'dead',
      stateChangeMs: ctx.nowMs(),
    }
    ctx.table.insert(record, ctx.random)
  } else if (!sameIp(record.addr, a.addr) || record.port !== a.port) {
    if (!canReclaim(ctx, record)) {
      notifyConflict(ctx, record, a, meta)
      return
    }
    updatesNode = true
  }
  if (!isLocal && a.incarnation <= record.incarnation && !updatesNode) return
  if (isLocal && a.incarnation < record.incarnation) return
  cancelSuspicion(ctx, a.node)
  const oldState = record.state
  const oldMeta = record.meta
  if (!options.bootstrap && isLocal) {
    const mine = ctx.self()
    const unchanged =
      a.incarnation === mine.incarnation &&
      sameBytes(meta, mine.meta) &&
      vsn !== undefined &&
      sameBytes(vsn, ctx.localVsn())
    if (!unchanged) refute(ctx, a.incarnation)
    return
  }
  // Re-gossip exactly 6 Vsn bytes (§2.3): older Go releases panic on a short one, and a long
  // one is nobody's business to carry on.
  const outgoing = a.vsn.length === 6 ? a : { ...a, vsn: vsn ?? record.vsn.slice() }
  ctx.broadcast(a.node, outgoing, options.onFinished)
  if (vsn !== undefined) record.vsn = vsn
  record.incarnation = a.incarnation
  record.meta = meta
  record.addr = a.addr.slice()
  record.port = a.port
  if (record.state !== 'alive') {
    record.state = 'alive'
    record.stateChangeMs = ctx.nowMs()
  }
  if (oldState === 'dead' || oldState === 'left')
    ctx.emit({ type: 'join', node: toNodeInfo(record) })
  else if (!sameBytes(oldMeta, meta)) ctx.emit({ type: 'update', node: toNodeInfo(record) })
}

/** Left nodes may be taken over at once; dead ones after DeadNodeReclaimTime (0 = never). */
function canReclaim(ctx: CoreContext, record: MemberRecord): boolean {
  if (record.state === 'left') return true
  const reclaimMs = ctx.config.deadNodeReclaimTimeMs
  return record.state === 'dead' && reclaimMs > 0 && ctx.nowMs() - record.stateChangeMs > reclaimMs
}

function notifyConflict(ctx: CoreContext, record: MemberRecord, a: Alive, meta: Uint8Array): void {
  const other = { ...toNodeInfo(record), addr: a.addr.slice(), port: a.port, meta }
  ctx.delegates.notifyConflict?.(toNodeInfo(record), other)
}

function vsnTuple(v: Uint8Array): [number, number, number, number, number, number] {
  return [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0, v[3] ?? 0, v[4] ?? 0, v[5] ?? 0]
}

/** Handles a suspect message (Go's suspectNode). */
export function applySuspect(ctx: CoreContext, s: Suspect): void {
  const record = ctx.table.get(s.node)
  if (record === undefined || s.incarnation < record.incarnation) return
  const existing = ctx.suspicions.get(s.node)
  if (existing !== undefined) {
    if (existing.suspicion.confirm(s.from, ctx.nowMs())) {
      ctx.broadcast(s.node, s)
      rearmSuspicion(ctx, s.node)
    }
    return
  }
  if (record.state !== 'alive') return
  if (record.name === ctx.config.name) {
    refute(ctx, s.incarnation)
    return
  }
  ctx.broadcast(s.node, s)
  ctx.metrics.suspicions++
  record.incarnation = s.incarnation
  record.state = 'suspect'
  const changeMs = ctx.nowMs()
  record.stateChangeMs = changeMs
  startSuspicion(ctx, record, s.from, changeMs)
}

function startSuspicion(ctx: CoreContext, record: MemberRecord, from: string, nowMs: number): void {
  const n = ctx.table.size
  const minMs = suspicionTimeoutMs({
    suspicionMult: ctx.config.suspicionMult,
    nodeCount: n,
    probeIntervalMs: ctx.config.probeIntervalMs,
  })
  const suspicion = new Suspicion({
    from,
    wanted: suspicionConfirmationsWanted(ctx.config.suspicionMult, n),
    minMs,
    maxMs: ctx.config.suspicionMaxTimeoutMult * minMs,
    startMs: nowMs,
  })
  const timer = ctx.timers.schedule(suspicion.deadlineMs, () =>
    onSuspicionTimeout(ctx, record.name, nowMs),
  )
  ctx.suspicions.set(record.name, { suspicion, timer })
}

function rearmSuspicion(ctx: CoreContext, name: string): void {
  const entry = ctx.suspicions.get(name)
  if (entry === undefined) return
  entry.timer.cancel()
  const changeMs = entry.suspicion.startMs
  entry.timer = ctx.timers.schedule(entry.suspicion.deadlineMs, () =>
    onSuspicionTimeout(ctx, name, changeMs),
  )
}

/** The suspicion timer fired: declare dead if still suspect since the same change. */
function onSuspicionTimeout(ctx: CoreContext, name: string, changeMs: number): void {
  const record = ctx.table.get(name)
  if (record === undefined || record.state !== 'suspect' || record.stateChangeMs !== changeMs) {
    return
  }
  applyDead(ctx, {
    type: 'dead',
    incarnation: record.incarnation,
    node: name,
    from: ctx.config.name,
  })
}

function cancelSuspicion(ctx: CoreContext, name: string): void {
  const entry = ctx.suspicions.get(name)
  if (entry === undefined) return
  entry.timer.cancel()
  ctx.suspicions.delete(name)
}

/** Handles a dead message (Go's deadNode); `from == node` means a graceful leave. */
export function applyDead(ctx: CoreContext, d: Dead, onFinished?: () => void): void {
  const record = ctx.table.get(d.node)
  if (record === undefined || d.incarnation < record.incarnation) return
  cancelSuspicion(ctx, d.node)
  if (isDeadOrLeft(record)) return
  if (record.name === ctx.config.name && !ctx.isLeaving) {
    refute(ctx, d.incarnation)
    return
  }
  ctx.broadcast(d.node, d, onFinished)
  const isLeave = d.from === d.node
  if (isLeave) ctx.metrics.leaves++
  else ctx.metrics.deaths++
  record.incarnation = d.incarnation
  record.state = isLeave ? 'left' : 'dead'
  record.stateChangeMs = ctx.nowMs()
  ctx.emit({ type: 'leave', node: toNodeInfo(record) })
}

/**
 * Refutes an accusation about ourselves (Go's refute): raise our incarnation above the
 * accused one, count a hit against our health, and broadcast a fresh alive message.
 */
export function refute(ctx: CoreContext, accusedIncarnation: number): void {
  const self = ctx.self()
  let incarnation = nextIncarnation(ctx)
  if (accusedIncarnation >= incarnation) {
    ctx.incarnation = Math.min(accusedIncarnation + 1, INCARNATION_MAX)
    incarnation = ctx.incarnation
  }
  self.incarnation = incarnation
  ctx.metrics.refutations++
  ctx.awareness.applyDelta(1)
  ctx.broadcast(self.name, {
    type: 'alive',
    incarnation,
    node: self.name,
    addr: self.addr.slice(),
    port: self.port,
    meta: self.meta.slice(),
    vsn: ctx.localVsn(),
  })
}

/**
 * Raises and returns our incarnation counter. It saturates at 2^32−1 instead of wrapping as Go's
 * uint32 does: a wrapped incarnation 0 would make every peer ignore our alive messages, while a
 * saturated one at least never goes backwards (a hostile accusation at 2^32−1 is the only way
 * to get there, and no incarnation can outbid it either way).
 */
export function nextIncarnation(ctx: CoreContext): number {
  ctx.incarnation = Math.min(ctx.incarnation + 1, INCARNATION_MAX)
  return ctx.incarnation
}
