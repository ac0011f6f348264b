/**
 * The gossip round (reference §6.6, memberlist `state.go` gossip): every GossipInterval, pick
 * GossipNodes random peers — alive or suspect, or dead for at most GossipToTheDeadTime so a
 * wrongly-declared node can still hear the news and refute; never left nodes or ourselves —
 * and send each the queued broadcasts that fit one UDP packet. Nothing is sent when the queue
 * is empty, so a quiet cluster gossips nothing.
 */

import { COMPOUND_HEADER_BYTES, type CoreContext, PACKET_PARTS_MAX } from './core-context.ts'
import type { MemberRecord } from './member-table.ts'
import { addressOf } from './probe.ts'

/** Runs one gossip round. */
export function gossipRound(ctx: CoreContext): void {
  const nowMs = ctx.nowMs()
  const exclude = (r: MemberRecord): boolean => {
    if (r.name === ctx.config.name) return true
    if (r.state === 'alive' || r.state === 'suspect') return false
    if (r.state === 'dead') return nowMs - r.stateChangeMs > ctx.config.gossipToTheDeadTimeMs
    return true
  }
  const budgetBytes = ctx.config.udpBufferSize - ctx.packetOverheadBytes() - COMPOUND_HEADER_BYTES
  for (const peer of ctx.table.randomNodes(ctx.config.gossipNodes, ctx.random, exclude)) {
    const messages = ctx.takeBroadcasts(budgetBytes, PACKET_PARTS_MAX)
    if (messages.length === 0) return
    ctx.sendPacket(addressOf(peer), messages, peer.vsn[1])
  }
}
