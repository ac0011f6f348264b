/**
 * Push/pull anti-entropy (reference §5, memberlist `net.go` pushPull/sendLocalState and
 * `state.go` mergeState/verifyProtocol). Two nodes exchange their complete tables and delegate
 * state over one TCP stream; each side then merges the other's: alive entries go through the
 * alive rules, left entries stay left, and a remote dead or suspect entry only makes us
 * *suspect* the node, so we run our own suspicion rather than trusting a stale verdict. A join
 * is a push/pull with the join flag; periodic push/pulls run every pushPullScale(interval, n).
 */

import type { PushNodeState, PushPull } from '../wire/messages.ts'
import type { CoreContext } from './core-context.ts'
import { toNodeInfo } from './member-table.ts'
import type { Address, NodeInfo } from './ports.ts'
import { applyAlive, applyDead, applySuspect } from './transitions.ts'

/** Our side of a push/pull: every table entry plus the delegate's local state. */
export function localPushPull(ctx: CoreContext, join: boolean): PushPull {
  const nodes: PushNodeState[] = ctx.table.all().map((r) => ({
    name: r.name,
    addr: r.addr,
    port: r.port,
    meta: r.meta,
    incarnation: r.incarnation,
    state: r.state,
    vsn: r.vsn,
  }))
  const userState = ctx.delegates.localState?.(join) ?? new Uint8Array(0)
  return { type: 'pushPull', join, nodes, userState }
}

function vsnOf(entry: PushNodeState): number[] {
  const v = entry.vsn
  return [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0, v[3] ?? 0, v[4] ?? 0, v[5] ?? 0]
}

/**
 * Go's verifyProtocol: every node's current protocol and delegate versions must lie within the
 * intersection of the alive nodes' [min, max] ranges. Returns an error sentence or undefined.
 */
export function verifyProtocol(
  ctx: CoreContext,
  remote: readonly PushNodeState[],
): string | undefined {
  let maxPMin = 0
  let minPMax = 255
  let maxDMin = 0
  let minDMax = 255
  const local = ctx.table.all().map((r) => ({ state: r.state, v: Array.from(r.vsn) }))
  const remotes = remote.map((r) => ({
    state: r.state,
    v: r.vsn.length > 0 ? vsnOf(r) : undefined,
  }))
  for (const n of [...remotes, ...local]) {
    if (n.state !== 'alive' || n.v === undefined) continue
    maxPMin = Math.max(maxPMin, n.v[0] ?? 0)
    minPMax = Math.min(minPMax, n.v[1] ?? 0)
    maxDMin = Math.max(maxDMin, n.v[3] ?? 0)
    minDMax = Math.min(minDMax, n.v[4] ?? 0)
  }
  for (const n of [...remotes, ...local]) {
    const pCur = n.v?.[2] ?? 0
    const dCur = n.v?.[5] ?? 0
    if (pCur < maxPMin || pCur > minPMax) {
      return `protocol version ${pCur} outside [${maxPMin}, ${minPMax}]`
    }
    if (dCur < maxDMin || dCur > minDMax) {
      return `delegate protocol version ${dCur} outside [${maxDMin}, ${minDMax}]`
    }
  }
  return undefined
}

/** Merges a remote push/pull into our state. Returns an error sentence when refused. */
export function mergeRemote(ctx: CoreContext, remote: PushPull): string | undefined {
  const problem = verifyProtocol(ctx, remote.nodes)
  if (problem !== undefined) return problem
  if (remote.join && ctx.delegates.notifyMerge !== undefined) {
    const peers: NodeInfo[] = remote.nodes.map((n) => ({
      name: n.name,
      addr: n.addr,
      port: n.port,
      meta: n.meta ?? new Uint8Array(0),
      incarnation: n.incarnation,
      state: n.state,
      vsn: vsnOf(n) as unknown as NodeInfo['vsn'],
    }))
    const veto = ctx.delegates.notifyMerge(peers)
    if (veto !== undefined) return `merge canceled: ${veto}`
  }
  for (const entry of remote.nodes) mergeEntry(ctx, entry)
  ctx.metrics.pushPulls++
  if (remote.userState.length > 0) ctx.delegates.mergeRemoteState?.(remote.userState, remote.join)
  return undefined
}

function mergeEntry(ctx: CoreContext, entry: PushNodeState): void {
  const { name, incarnation } = entry
  switch (entry.state) {
    case 'alive': {
      const port = entry.port === 0 ? ctx.config.advertisePort : entry.port
      const meta = entry.meta
      applyAlive(ctx, {
        type: 'alive',
        node: name,
        incarnation,
        addr: entry.addr,
        port,
        meta,
        vsn: entry.vsn,
      })
      return
    }
    case 'left':
      applyDead(ctx, { type: 'dead', node: name, incarnation, from: name })
      return
    case 'dead':
    case 'suspect':
      // A remote verdict only makes us suspect: we run our own suspicion timer.
      applySuspect(ctx, { type: 'suspect', node: name, incarnation, from: ctx.config.name })
      return
  }
}

/** Runs a push/pull with `to`; `done` gets an error sentence or undefined on success. */
export function pushPullWith(
  ctx: CoreContext,
  options: { to: Address; join: boolean; done: (error: string | undefined) => void },
): void {
  ctx.requestStream({
    to: options.to,
    message: localPushPull(ctx, options.join),
    expectsReply: true,
    deadlineMs: ctx.nowMs() + ctx.config.tcpTimeoutMs,
    onResult: (result) => {
      if (!result.ok) return options.done(result.error)
      const reply = result.reply
      if (reply?.type === 'err') return options.done(`remote error: ${reply.error}`)
      if (reply?.type !== 'pushPull') return options.done('unexpected reply to push/pull')
      options.done(mergeRemote(ctx, reply))
    },
  })
}

/** A periodic push/pull with one random alive peer (none when we are alone). */
export function periodicPushPull(ctx: CoreContext): void {
  const [peer] = ctx.table.randomNodes(
    1,
    ctx.random,
    (r) => r.name === ctx.config.name || r.state !== 'alive',
  )
  if (peer === undefined) return
  pushPullWith(ctx, { to: { ip: peer.addr, port: peer.port }, join: false, done: () => {} })
}

/** Our node as the NodeInfo used by merge delegates. */
export function selfInfo(ctx: CoreContext): NodeInfo {
  return toNodeInfo(ctx.self())
}
