/**
 * The simulated transports between nodes: memberlist gossip (UDP-like packets and TCP-like
 * streams, as `@gossamer/memberlist`'s own simulator models them) and replication RPC
 * (request/response calls with a timeout, as `src/rpc/` provides them). Every message is
 * round-tripped through the real codecs — memberlist's `encodePacketMessage` /
 * `decodePacketMessage` and stream codec, Gossamer's `encodeReplicationMessage` /
 * `decodeReplicationMessage` — so the simulation also exercises the wire formats, and no object
 * is ever shared between two nodes.
 *
 * Failure semantics, per message, from `SimNetwork`: a lost or blocked packet vanishes; a lost
 * or blocked RPC request or reply leaves the caller to its timeout; a call to a crashed process
 * is refused (the caller learns after a round trip, unless the way back is blocked too). A
 * duplicated RPC request runs the handler twice; only the first reply reaches the caller, as an
 * RPC client resolves a call once.
 */
import type { Address, CoreOutput } from '@gossamer/memberlist'
import type { ReplicationMessage } from '../replication/messages.ts'
import { decodeReplicationMessage, encodeReplicationMessage } from '../rpc/replication-rpc.ts'
import type { EventQueue } from './event-queue.ts'
import {
  decodePacketMessage,
  decodeStreamMessage,
  encodePacketMessage,
  encodeStreamMessage,
  type PacketMessage,
  type StreamMessage,
} from './memberlist-parts.ts'
import type { SimNetwork } from './network.ts'
import type { SimNode } from './sim-node.ts'

/** Counters of the transports. */
export interface TransportStats {
  packets: number
  streams: number
  calls: number
  /** Messages a codec failed to round-trip (each one is a bug). */
  codecErrors: number
}

/** Routes gossip and RPC between the nodes of one simulation. */
export class SimTransport {
  readonly stats: TransportStats = { packets: 0, streams: 0, calls: 0, codecErrors: 0 }
  readonly codecErrorDetails: string[] = []
  readonly #queue: EventQueue
  readonly #network: SimNetwork
  readonly #nodes: ReadonlyMap<string, SimNode>
  readonly #byIp = new Map<string, SimNode>()

  constructor(input: {
    queue: EventQueue
    network: SimNetwork
    nodes: ReadonlyMap<string, SimNode>
  }) {
    this.#queue = input.queue
    this.#network = input.network
    this.#nodes = input.nodes
  }

  /** Registers a node's address (once, at creation). */
  register(node: SimNode): void {
    this.#byIp.set(ipKey(node.address), node)
  }

  /** A memberlist packet or stream output of `from`. */
  sendGossip(from: SimNode, output: CoreOutput): void {
    if (output.kind === 'packet') this.#sendPacket(from, output.to, output.messages)
    else if (output.kind === 'stream') this.#sendStream(from, output)
  }

  #sendPacket(from: SimNode, to: Address, messages: readonly PacketMessage[]): void {
    const target = this.#byIp.get(ipKey(to))
    if (target === undefined) return
    this.stats.packets++
    const net = this.#network
    if (net.isBlocked(from.name, target.name) || net.drops()) return
    const payload = this.#packetCodec(messages)
    if (payload === undefined) return
    const copies = net.duplicates() ? 2 : 1
    for (let i = 0; i < copies; i++) {
      this.#queue.after(net.delayMs(), () => {
        if (!target.isUp || net.isBlocked(from.name, target.name)) return
        target.core.handlePacket(from.address, payload)
        target.afterCall()
      })
    }
  }

  #sendStream(from: SimNode, out: Extract<CoreOutput, { kind: 'stream' }>): void {
    this.stats.streams++
    const net = this.#network
    const finish = from.guard((result: Parameters<SimNode['core']['onStreamResult']>[1]) => {
      from.core.onStreamResult(out.requestId, result)
      from.afterCall()
    })
    const timeOut = () =>
      this.#queue.at(out.deadlineMs, () => finish({ ok: false, error: 'i/o timeout' }))
    const target = this.#byIp.get(ipKey(out.to))
    const request = this.#streamCodec(out.message)
    if (
      target === undefined ||
      request === undefined ||
      !target.isUp ||
      net.isBlocked(from.name, target.name)
    ) {
      timeOut()
      return
    }
    this.#queue.after(net.delayMs(), () => {
      if (!target.isUp || net.isBlocked(from.name, target.name)) {
        timeOut()
      } else if (this.#queue.nowMs > out.deadlineMs) {
        finish({ ok: false, error: 'i/o timeout' })
      } else {
        const reply = target.core.handleStream(from.address, request)
        target.afterCall()
        if (!out.expectsReply) finish({ ok: true })
        else if (net.isBlocked(target.name, from.name)) timeOut()
        else
          this.#queue.after(net.delayMs(), () => this.#streamReply(out.deadlineMs, reply, finish))
      }
    })
  }

  #streamReply(
    deadlineMs: number,
    reply: StreamMessage | undefined,
    finish: (result: Parameters<SimNode['core']['onStreamResult']>[1]) => void,
  ): void {
    if (this.#queue.nowMs > deadlineMs) finish({ ok: false, error: 'i/o timeout' })
    else if (reply === undefined) finish({ ok: false, error: 'EOF' })
    else {
      const back = this.#streamCodec(reply)
      finish(back === undefined ? { ok: false, error: 'codec' } : { ok: true, reply: back })
    }
  }

  /** One replication RPC; see the module header for the failure semantics. */
  call(
    from: SimNode,
    toName: string,
    message: ReplicationMessage,
    timeoutMs: number,
    handlers: {
      onReply(reply: ReplicationMessage | undefined): void
      /** `answered`: the peer's handler refused (the runtime's remote error), not the network. */
      onFailure(why: string, answered?: boolean): void
    },
  ): void {
    this.stats.calls++
    const net = this.#network
    let isSettled = false
    const settle = from.guard((run: () => void) => {
      if (isSettled) return
      isSettled = true
      run()
    })
    this.#queue.after(timeoutMs, () => settle(() => handlers.onFailure('timeout')))
    const target = this.#nodes.get(toName)
    const request = this.#rpcCodec(from.name, message, 'request')
    if (target === undefined || request === undefined) {
      this.#queue.after(0, () => settle(() => handlers.onFailure('unknown peer')))
      return
    }
    if (net.isBlocked(from.name, toName) || net.drops()) return
    const deliver = () => {
      if (net.isBlocked(from.name, toName)) return
      if (!target.isUp) {
        if (net.isBlocked(toName, from.name)) return
        this.#queue.after(net.delayMs(), () => settle(() => handlers.onFailure('refused')))
        return
      }
      target.handleRequest(from.name, request, {
        reply: target.guard((reply: ReplicationMessage | undefined) => {
          if (net.isBlocked(toName, from.name) || net.drops()) return
          const back = reply === undefined ? undefined : this.#rpcCodec(toName, reply, 'response')
          if (reply !== undefined && back === undefined) return
          this.#queue.after(net.delayMs(), () => settle(() => handlers.onReply(back)))
        }),
        fail: target.guard((why: string) => {
          if (net.isBlocked(toName, from.name)) return
          this.#queue.after(net.delayMs(), () => settle(() => handlers.onFailure(why, true)))
        }),
      })
    }
    this.#queue.after(net.delayMs(), deliver)
    if (net.duplicates()) this.#queue.after(net.delayMs(), deliver)
  }

  #packetCodec(messages: readonly PacketMessage[]): PacketMessage[] | undefined {
    const out: PacketMessage[] = []
    for (const message of messages) {
      const decoded = decodePacketMessage(encodePacketMessage(message))
      if (!decoded.ok) return this.#codecError(`packet ${message.type}: ${decoded.detail}`)
      out.push(decoded.message)
    }
    return out
  }

  #streamCodec(message: StreamMessage): StreamMessage | undefined {
    const decoded = decodeStreamMessage(encodeStreamMessage(message))
    if (!decoded.ok) return this.#codecError(`stream ${message.type}: ${decoded.detail}`)
    return decoded.message
  }

  #rpcCodec(
    from: string,
    message: ReplicationMessage,
    kind: 'request' | 'response',
  ): ReplicationMessage | undefined {
    const encoded = encodeReplicationMessage({ from, message })
    if (encoded.kind !== kind)
      return this.#codecError(`rpc ${message.type}: encoded as ${encoded.kind}`)
    const decoded = decodeReplicationMessage(encoded)
    if (!decoded.ok) return this.#codecError(`rpc ${message.type}: ${decoded.reason}`)
    if (kind === 'request' && decoded.value.from !== from) return this.#codecError('rpc from')
    return decoded.value.message
  }

  #codecError(detail: string): undefined {
    this.stats.codecErrors++
    if (this.codecErrorDetails.length < 20) this.codecErrorDetails.push(detail)
    return undefined
  }
}

function ipKey(address: Address): string {
  return `${Array.from(address.ip).join('.')}:${address.port}`
}
