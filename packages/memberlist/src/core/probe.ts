/**
 * The SWIM failure detector with Lifeguard's refinements (reference §6.2, §1.7; memberlist
 * `state.go` probe/probeNode and `net.go` ping handlers). Every probe interval one node is
 * probed, round-robin over a shuffled list: a direct UDP ping, then — if no ack came within
 * ProbeTimeout — indirect pings through IndirectChecks random peers (asking for nacks when they
 * speak protocol 4+) and, in parallel, a TCP fallback ping. Without any ack by the probe's
 * deadline (ProbeInterval scaled by awareness) the node is suspected. The probe outcome feeds
 * the awareness score: −1 for a direct ack, +1 per missing nack (or +1 when none were asked).
 * This class also answers pings and relays indirect pings for others.
 */

import type { AckResp, IndirectPingReq, NackResp, Ping } from '../wire/messages.ts'
import type { CoreContext } from './core-context.ts'
import { type MemberRecord, toNodeInfo } from './member-table.ts'
import type { Address, StreamResult } from './ports.ts'
import type { TimerHandle } from './timers.ts'
import { applySuspect } from './transitions.ts'

interface AckHandler {
  readonly onAck: (payload: Uint8Array | undefined) => void
  readonly onNack?: (() => void) | undefined
  readonly timer: TimerHandle
}

interface ProbeRound {
  readonly target: MemberRecord
  readonly targetIncarnation: number
  readonly seqNo: number
  readonly sentMs: number
  readonly deadlineMs: number
  isIndirect: boolean
  expectedNacks: number
  nacks: number
  fallback: 'none' | 'pending' | 'ok' | 'failed'
  isAwaitingFallback: boolean
}

/** Probe scheduling, ack bookkeeping and ping/indirect-ping handling. */
export class Prober {
  readonly #ctx: CoreContext
  readonly #ackHandlers = new Map<number, AckHandler>()
  #round: ProbeRound | undefined
  #isTickPending = false

  constructor(ctx: CoreContext) {
    this.#ctx = ctx
  }

  /** The probe ticker fired. A busy prober remembers one tick, like Go's buffered ticker. */
  onProbeTick(): void {
    if (this.#round !== undefined) {
      this.#isTickPending = true
      return
    }
    this.#probeNext()
  }

  #probeNext(): void {
    const ctx = this.#ctx
    const target = ctx.table.nextProbeTarget(ctx.config.name, () => {
      ctx.table.reapAndShuffle({
        nowMs: ctx.nowMs(),
        retainMs: ctx.config.gossipToTheDeadTimeMs,
        random: ctx.random,
      })
    })
    if (target !== undefined) this.#probeNode(target)
  }

  #probeNode(target: MemberRecord): void {
    const ctx = this.#ctx
    const nowMs = ctx.nowMs()
    const round: ProbeRound = {
      target,
      targetIncarnation: target.incarnation,
      seqNo: ctx.nextSeqNo(),
      sentMs: nowMs,
      deadlineMs: nowMs + ctx.awareness.scaleMs(ctx.config.probeIntervalMs),
      isIndirect: false,
      expectedNacks: 0,
      nacks: 0,
      fallback: 'none',
      isAwaitingFallback: false,
    }
    this.#round = round
    ctx.metrics.probes++
    this.#setAckHandler(round.seqNo, round.deadlineMs, {
      onAck: (payload) => this.#onProbeAck(round, payload),
      onNack: () => {
        round.nacks++
      },
      onTimeout: () => this.#onProbeDeadline(round),
    })
    const ping = this.#ping(round.seqNo, target.name)
    const to = addressOf(target)
    if (target.state === 'alive') ctx.sendWithPiggyback(to, ping, target.vsn[1])
    else {
      // A suspect target hears the accusation with the ping, so it can refute at once.
      const suspect = {
        type: 'suspect' as const,
        incarnation: target.incarnation,
        node: target.name,
        from: ctx.config.name,
      }
      ctx.sendPacket(to, [ping, suspect], target.vsn[1])
    }
    ctx.timers.schedule(nowMs + ctx.config.probeTimeoutMs, () => this.#probeIndirect(round))
  }

  #ping(seqNo: number, node: string): Ping {
    const ctx = this.#ctx
    return {
      type: 'ping',
      seqNo,
      node,
      sourceAddr: ctx.config.advertiseAddr,
      sourcePort: ctx.config.advertisePort,
      sourceNode: ctx.config.name,
    }
  }

  /** ProbeTimeout passed without a direct ack: ask relays, and try TCP. */
  #probeIndirect(round: ProbeRound): void {
    if (this.#round !== round) return
    const ctx = this.#ctx
    round.isIndirect = true
    const target = round.target
    const peers = ctx.table.randomNodes(
      ctx.config.indirectChecks,
      ctx.random,
      (r) => r.name === ctx.config.name || r.name === target.name || r.state !== 'alive',
    )
    for (const peer of peers) {
      const wantsNack = (peer.vsn[1] ?? 0) >= 4
      if (wantsNack) round.expectedNacks++
      const request: IndirectPingReq = {
        type: 'indirectPing',
        seqNo: round.seqNo,
        target: target.addr,
        port: target.port,
        node: target.name,
        nack: wantsNack,
        sourceAddr: ctx.config.advertiseAddr,
        sourcePort: ctx.config.advertisePort,
        sourceNode: ctx.config.name,
      }
      ctx.sendWithPiggyback(addressOf(peer), request, peer.vsn[1])
    }
    if (!ctx.config.disableTcpPings && (target.vsn[1] ?? 0) >= 3) this.#probeTcp(round)
  }

  #probeTcp(round: ProbeRound): void {
    round.fallback = 'pending'
    this.#ctx.requestStream({
      to: addressOf(round.target),
      message: this.#ping(round.seqNo, round.target.name),
      expectsReply: true,
      deadlineMs: round.deadlineMs,
      onResult: (result) => this.#onFallbackResult(round, result),
    })
  }

  #onFallbackResult(round: ProbeRound, result: StreamResult): void {
    const isAck = result.ok && result.reply?.type === 'ackResp'
    round.fallback = isAck && result.reply.seqNo === round.seqNo ? 'ok' : 'failed'
    if (round.isAwaitingFallback && this.#round === round) this.#concludeProbe(round)
  }

  #onProbeAck(round: ProbeRound, payload: Uint8Array | undefined): void {
    if (this.#round !== round) return
    const ctx = this.#ctx
    if (!round.isIndirect) {
      const rttMs = ctx.nowMs() - round.sentMs
      ctx.delegates.notifyPingComplete?.(toNodeInfo(round.target), rttMs, payload)
      this.#finishProbe(-1)
    } else this.#finishProbe(0)
  }

  #onProbeDeadline(round: ProbeRound): void {
    if (this.#round !== round) return
    if (round.fallback === 'pending') round.isAwaitingFallback = true
    else this.#concludeProbe(round)
  }

  /** No UDP ack by the deadline: success if TCP got through, else suspect the target. */
  #concludeProbe(round: ProbeRound): void {
    const ctx = this.#ctx
    if (round.fallback === 'ok') {
      // Go warns: "was able to connect over TCP but UDP probes failed".
      this.#finishProbe(0)
      return
    }
    let delta = 1
    if (round.expectedNacks > 0) delta = Math.max(0, round.expectedNacks - round.nacks)
    ctx.metrics.probeFailures++
    this.#finishProbe(delta)
    applySuspect(ctx, {
      type: 'suspect',
      incarnation: round.targetIncarnation,
      node: round.target.name,
      from: ctx.config.name,
    })
  }

  #finishProbe(awarenessDelta: number): void {
    const round = this.#round
    if (round !== undefined) this.#removeAckHandler(round.seqNo)
    this.#round = undefined
    this.#ctx.awareness.applyDelta(awarenessDelta)
    if (this.#isTickPending) {
      this.#isTickPending = false
      this.#probeNext()
    }
  }

  /** Answers a UDP ping addressed to us (or to nobody in particular). */
  handlePing(from: Address, ping: Ping): void {
    const ctx = this.#ctx
    if (ping.node !== '' && ping.node !== ctx.config.name) return
    const payload = ctx.delegates.ackPayload?.()
    const ack: AckResp = { type: 'ackResp', seqNo: ping.seqNo, payload }
    const replyTo = replyAddress(from, ping)
    const knownPMax = ping.sourceNode ? ctx.table.get(ping.sourceNode)?.vsn[1] : undefined
    ctx.sendWithPiggyback(replyTo, ack, knownPMax)
  }

  /** Relays an indirect ping: ping the target ourselves, forward its ack, or nack in time. */
  handleIndirectPing(from: Address, request: IndirectPingReq): void {
    const ctx = this.#ctx
    if (this.#ackHandlers.size >= ctx.config.ackHandlersMax) {
      ctx.metrics.malformedDropped++
      return
    }
    const localSeqNo = ctx.nextSeqNo()
    const replyTo = replyAddress(from, request)
    const port = request.port === 0 ? ctx.config.advertisePort : request.port
    this.#setAckHandler(localSeqNo, ctx.nowMs() + ctx.config.probeTimeoutMs, {
      onAck: () => {
        ctx.sendWithPiggyback(replyTo, {
          type: 'ackResp',
          seqNo: request.seqNo,
          payload: undefined,
        })
      },
      onTimeout: () => {
        if (!request.nack) return
        const nack: NackResp = { type: 'nackResp', seqNo: request.seqNo }
        ctx.sendWithPiggyback(replyTo, nack)
      },
    })
    ctx.sendWithPiggyback({ ip: request.target, port }, this.#ping(localSeqNo, request.node))
  }

  /** An ack arrived: run and drop its handler. Unknown sequence numbers are ignored. */
  handleAck(ack: AckResp): void {
    const handler = this.#ackHandlers.get(ack.seqNo)
    if (handler === undefined) return
    this.#removeAckHandler(ack.seqNo)
    this.#ctx.metrics.acksReceived++
    handler.onAck(ack.payload)
  }

  /** A nack arrived: count it against its probe (the handler stays for a later ack). */
  handleNack(nack: NackResp): void {
    const handler = this.#ackHandlers.get(nack.seqNo)
    if (handler?.onNack === undefined) return
    this.#ctx.metrics.nacksReceived++
    handler.onNack()
  }

  /** Answers a fallback ping on a stream with an ack, if it is for us. */
  handleStreamPing(ping: Ping): AckResp | undefined {
    if (ping.node !== '' && ping.node !== this.#ctx.config.name) return undefined
    return { type: 'ackResp', seqNo: ping.seqNo, payload: undefined }
  }

  #setAckHandler(
    seqNo: number,
    deadlineMs: number,
    handler: {
      onAck: (payload: Uint8Array | undefined) => void
      onNack?: () => void
      onTimeout: () => void
    },
  ): void {
    const timer = this.#ctx.timers.schedule(deadlineMs, () => {
      this.#ackHandlers.delete(seqNo)
      handler.onTimeout()
    })
    this.#ackHandlers.set(seqNo, { onAck: handler.onAck, onNack: handler.onNack, timer })
  }

  #removeAckHandler(seqNo: number): void {
    const handler = this.#ackHandlers.get(seqNo)
    if (handler === undefined) return
    handler.timer.cancel()
    this.#ackHandlers.delete(seqNo)
  }
}

/** A record's UDP/TCP address. */
export function addressOf(record: MemberRecord): Address {
  return { ip: record.addr, port: record.port }
}

/** Where to answer: the advertised Source address when complete, else the datagram's source. */
function replyAddress(
  from: Address,
  m: { sourceAddr?: Uint8Array | undefined; sourcePort?: number | undefined },
): Address {
  const hasSource =
    m.sourceAddr !== undefined && m.sourceAddr.length > 0 && (m.sourcePort ?? 0) !== 0
  return hasSource ? { ip: m.sourceAddr!, port: m.sourcePort! } : from
}
