/**
 * Shared state and effects of one memberlist core, handed to every mechanism (transitions,
 * probe, gossip, push/pull). It owns the output buffer, the timer queue, the broadcast queue
 * and the node table, and offers the few effects the mechanisms need: send a packet with
 * piggy-backed broadcasts (reference §1.4, §6.6), queue a broadcast, request a stream, emit an
 * event. Nothing here does I/O; every effect becomes a {@link CoreOutput}.
 */

import type { PacketMessage, StreamMessage } from '../wire/messages.ts'
import { Awareness } from './awareness.ts'
import { BroadcastQueue } from './broadcast-queue.ts'
import type { MemberlistConfig } from './config.ts'
import { type MemberRecord, MemberTable } from './member-table.ts'
import { estimateMessageBytes } from './message-size.ts'
import { createMetrics, type MemberlistMetrics } from './metrics.ts'
import type {
  Address,
  Clock,
  CoreComponents,
  CoreOutput,
  Delegates,
  MemberEvent,
  MessageSizer,
  Random,
  StreamResult,
} from './ports.ts'
import type { Suspicion } from './suspicion.ts'
import { type TimerHandle, TimerQueue } from './timers.ts'

/** Compound header bytes (type + count) and per-part length entry (§4.1). */
export const COMPOUND_HEADER_BYTES = 2
export const COMPOUND_PART_OVERHEAD_BYTES = 2
/** Extra byte a piggy-backed user message costs (its type byte). */
export const USER_MSG_OVERHEAD_BYTES = 1
/** Parts per packet we never exceed (0.2.2 receivers wrap at 128). */
export const PACKET_PARTS_MAX = 127
/** Grace after a stream's deadline before the core gives up on the driver's answer. */
export const STREAM_RESULT_GRACE_MS = 100
/** Bound on outstanding streams. */
export const PENDING_STREAMS_MAX = 4096
/** Bound on buffered outputs between two drains (a driver that never drains loses the excess). */
export const OUTPUTS_MAX = 100_000

interface PendingStream {
  readonly onResult: (result: StreamResult) => void
  readonly timer: TimerHandle
}

/** A node's suspicion and the timer that declares it dead. */
export interface SuspicionEntry {
  readonly suspicion: Suspicion
  timer: TimerHandle
}

/** State and effects shared by the core's mechanisms. */
export class CoreContext {
  readonly config: Readonly<MemberlistConfig>
  readonly clock: Clock
  readonly random: Random
  readonly delegates: Delegates
  readonly sizeOf: MessageSizer
  readonly #packetOverheadBytes: (() => number) | undefined
  readonly metrics: MemberlistMetrics = createMetrics()
  readonly timers = new TimerQueue()
  readonly table = new MemberTable()
  readonly awareness: Awareness
  readonly broadcasts: BroadcastQueue<PacketMessage>
  readonly suspicions = new Map<string, SuspicionEntry>()
  /** Our incarnation counter (nextIncarnation in Go). Invariant: only increases. */
  incarnation = 0
  isLeaving = false
  isShutdown = false
  #seqNo = 0
  #nextRequestId = 1
  #outputs: CoreOutput[] = []
  readonly #streams = new Map<number, PendingStream>()

  constructor(components: CoreComponents, config: Readonly<MemberlistConfig>) {
    this.config = config
    this.clock = components.clock
    this.random = components.random
    this.delegates = components.delegates ?? {}
    this.sizeOf = components.sizer ?? estimateMessageBytes
    this.#packetOverheadBytes = components.packetOverheadBytes
    this.awareness = new Awareness(config.awarenessMaxMultiplier)
    this.broadcasts = new BroadcastQueue<PacketMessage>({
      retransmitMult: config.retransmitMult,
      nodeCount: () => this.table.size,
      maxItems: config.broadcastQueueMax,
    })
  }

  /** Bytes the driver adds around each packet right now (see CoreComponents). */
  packetOverheadBytes(): number {
    return this.#packetOverheadBytes?.() ?? this.config.packetOverheadBytes
  }

  /** Current monotonic time. */
  nowMs(): number {
    return this.clock.nowMs()
  }

  /** Next probe sequence number (uint32, wrapping). */
  nextSeqNo(): number {
    this.#seqNo = (this.#seqNo + 1) >>> 0
    return this.#seqNo
  }

  /** Our own table entry (present from construction on). */
  self(): MemberRecord {
    return this.table.get(this.config.name)!
  }

  /** Our Vsn: [1, 5, PCur, DMin, DMax, DCur] — always 6 bytes (§2.3). */
  localVsn(): Uint8Array {
    const c = this.config
    return Uint8Array.of(
      1,
      5,
      c.protocolVersion,
      c.delegateProtocolMin,
      c.delegateProtocolMax,
      c.delegateProtocolVersion,
    )
  }

  /** Our advertised address. */
  localAddress(): Address {
    return { ip: this.config.advertiseAddr, port: this.config.advertisePort }
  }

  /** Buffers an output for the driver. */
  output(output: CoreOutput): void {
    if (this.isShutdown) return
    if (this.#outputs.length >= OUTPUTS_MAX) return
    this.#outputs.push(output)
  }

  /** Returns and clears buffered outputs. */
  takeOutputs(): CoreOutput[] {
    const outputs = this.#outputs
    this.#outputs = []
    return outputs
  }

  /** Emits a membership event. */
  emit(event: MemberEvent): void {
    this.output({ kind: 'event', event })
  }

  /** Queues a memberlist broadcast about `nodeName` (replacing older news about it). */
  broadcast(nodeName: string, message: PacketMessage, onFinished?: () => void): void {
    this.broadcasts.queue({
      name: nodeName,
      payload: message,
      sizeBytes: this.sizeOf(message),
      onFinished,
    })
  }

  /**
   * Broadcasts to piggy-back within `limitBytes`: memberlist's first, then the delegate's
   * (each framed as a user message), as Go's getBroadcasts.
   */
  takeBroadcasts(limitBytes: number, partsMax: number): PacketMessage[] {
    const own = this.broadcasts.take(COMPOUND_PART_OVERHEAD_BYTES, limitBytes).slice(0, partsMax)
    let usedBytes = 0
    for (const message of own) usedBytes += this.sizeOf(message) + COMPOUND_PART_OVERHEAD_BYTES
    const availBytes = limitBytes - usedBytes
    const userOverhead = COMPOUND_PART_OVERHEAD_BYTES + USER_MSG_OVERHEAD_BYTES
    const getUser = this.delegates.getBroadcasts
    if (getUser === undefined || availBytes <= userOverhead || own.length >= partsMax) return own
    const user = getUser.call(this.delegates, userOverhead, availBytes)
    const room = partsMax - own.length
    for (const payload of user.slice(0, room)) own.push({ type: 'user', payload })
    return own
  }

  /** Sends `message` to `to` over UDP, piggy-backing queued broadcasts (Go's sendMsg). */
  sendWithPiggyback(to: Address, message: PacketMessage, targetPMax?: number): void {
    const budgetBytes =
      this.config.udpBufferSize -
      this.packetOverheadBytes() -
      this.sizeOf(message) -
      COMPOUND_HEADER_BYTES
    const extras = budgetBytes > 0 ? this.takeBroadcasts(budgetBytes, PACKET_PARTS_MAX - 1) : []
    this.sendPacket(to, [message, ...extras], targetPMax)
  }

  /** Sends `messages` as one datagram (compound if more than one), no piggy-backing. */
  sendPacket(to: Address, messages: readonly PacketMessage[], targetPMax?: number): void {
    if (messages.length === 0) return
    this.metrics.messagesOut += messages.length
    this.output({ kind: 'packet', to, messages, targetPMax })
  }

  /**
   * Asks the driver for an outbound stream. `onResult` runs exactly once: with the driver's
   * result, or with a timeout failure shortly after `deadlineMs` if the driver never answers.
   */
  requestStream(options: {
    to: Address
    message: StreamMessage
    expectsReply: boolean
    deadlineMs: number
    onResult: (result: StreamResult) => void
  }): void {
    if (this.#streams.size >= PENDING_STREAMS_MAX) {
      options.onResult({ ok: false, error: 'too many pending streams' })
      return
    }
    const requestId = this.#nextRequestId++
    const timer = this.timers.schedule(options.deadlineMs + STREAM_RESULT_GRACE_MS, () => {
      this.#streams.delete(requestId)
      options.onResult({ ok: false, error: 'stream timed out' })
    })
    this.#streams.set(requestId, { onResult: options.onResult, timer })
    this.metrics.messagesOut++
    const { to, message, expectsReply, deadlineMs } = options
    this.output({ kind: 'stream', requestId, to, message, expectsReply, deadlineMs })
  }

  /** Delivers a driver's stream result; unknown or late ids are ignored. */
  resolveStream(requestId: number, result: StreamResult): void {
    const pending = this.#streams.get(requestId)
    if (pending === undefined) return
    this.#streams.delete(requestId)
    pending.timer.cancel()
    if (result.ok && result.reply !== undefined) this.metrics.messagesIn++
    pending.onResult(result)
  }

  /** Drops all pending work (shutdown). */
  clearPending(): void {
    this.timers.clear()
    this.#streams.clear()
    this.suspicions.clear()
    this.#outputs = []
  }

  /** True if any node other than us is neither dead nor left (Go's anyAlive). */
  anyAlive(): boolean {
    for (const record of this.table.all()) {
      if (record.name === this.config.name) continue
      if (record.state === 'alive' || record.state === 'suspect') return true
    }
    return false
  }
}
