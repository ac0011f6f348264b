/**
 * The memberlist core: a synchronous, sans-I/O state machine for SWIM + Lifeguard membership
 * (reference §5–§6), in the style of etcd raft's RawNode. A driver feeds it decoded messages,
 * stream results and the passage of time, and drains the outputs it produces.
 *
 * Driver loop (Node driver and simulator alike):
 * ```ts
 * const core = new MemberlistCore({ clock, random, delegates, sizer }, resolveConfig({ name }))
 * // UDP datagram in (label/decrypt/CRC/decompress/compound already unwrapped):
 * core.handlePacket(from, messages)
 * // Inbound TCP stream: one decoded frame in, at most one frame out, then close.
 * const reply = core.handleStream(from, message); if (reply) write(reply)
 * // Outbound stream the core asked for has finished (always exactly once per requestId):
 * core.onStreamResult(requestId, { ok: true, reply })
 * // Time: call tick() when nextDeadlineMs() has passed (calling it early is harmless).
 * core.tick(); setTimer(core.nextDeadlineMs())
 * // After EVERY call above, drain and act on the outputs, in order:
 * for (const out of core.takeOutputs()) handle(out)   // see CoreOutput in ports.ts
 * ```
 * Commands (`join`, `leave`, `updateNode`, `sendBestEffort`, `sendReliable`, `shutdown`) are
 * also synchronous and report completion through outputs (`joinComplete`, `leaveComplete`,
 * `updateComplete`). Address resolution (hostnames, `name/` prefixes) is the driver's job.
 */

import type { PacketMessage, StreamMessage } from '../wire/messages.ts'
import type { MemberlistConfig } from './config.ts'
import { CoreContext } from './core-context.ts'
import { pushPullScaleMs, randomOffsetMs } from './formulas.ts'
import { gossipRound } from './gossip.ts'
import { toNodeInfo } from './member-table.ts'
import type { MemberlistMetrics } from './metrics.ts'
import type {
  Address,
  CoreComponents,
  CoreOutput,
  Millis,
  NodeInfo,
  StreamResult,
} from './ports.ts'
import { Prober } from './probe.ts'
import { localPushPull, mergeRemote, periodicPushPull, pushPullWith } from './push-pull.ts'
import { applyAlive, applyDead, applySuspect, nextIncarnation } from './transitions.ts'

/** Largest node metadata memberlist accepts (MetaMaxSize). */
export const META_MAX_BYTES = 512

/** Thrown when the node-meta delegate returns more than {@link META_MAX_BYTES}. */
export class MetaTooLargeError extends Error {
  /** Stable error code. */
  readonly code = 'MEMBERLIST_ERR_META_TOO_LARGE'
  constructor(sizeBytes: number) {
    super(`node metadata is ${sizeBytes} bytes; the limit is ${META_MAX_BYTES}`)
    this.name = 'MetaTooLargeError'
  }
}

/** The SWIM + Lifeguard membership state machine. See the module header for the driver loop. */
export class MemberlistCore {
  /** The resolved config. */
  readonly config: Readonly<MemberlistConfig>
  /** Counters; the driver adds its own (bytes, malformed input) to the same object. */
  readonly metrics: MemberlistMetrics
  readonly #ctx: CoreContext
  readonly #prober: Prober
  #nextJoinId = 1

  /**
   * Creates the core and makes the local node alive with incarnation 1 (its alive message is
   * queued for broadcast and a `join` event for itself is emitted, as in Go). Schedules the
   * probe, gossip and push/pull timers, each after a random stagger within its interval.
   * Throws {@link MetaTooLargeError} if the meta delegate returns more than 512 bytes.
   */
  constructor(components: CoreComponents, config: Readonly<MemberlistConfig>) {
    this.config = config
    this.#ctx = new CoreContext(components, config)
    this.metrics = this.#ctx.metrics
    this.#prober = new Prober(this.#ctx)
    this.#advertiseSelf()
    this.#startTimers()
  }

  #nodeMeta(): Uint8Array {
    const meta = this.#ctx.delegates.nodeMeta?.(META_MAX_BYTES) ?? new Uint8Array(0)
    if (meta.length > META_MAX_BYTES) throw new MetaTooLargeError(meta.length)
    return meta
  }

  #advertiseSelf(onFinished?: () => void): void {
    const ctx = this.#ctx
    const meta = this.#nodeMeta()
    const alive = {
      type: 'alive' as const,
      incarnation: nextIncarnation(ctx),
      node: this.config.name,
      addr: this.config.advertiseAddr,
      port: this.config.advertisePort,
      meta,
      vsn: ctx.localVsn(),
    }
    applyAlive(ctx, alive, { bootstrap: true, onFinished })
  }

  #startTimers(): void {
    const ctx = this.#ctx
    const c = this.config
    const now = ctx.nowMs()
    const every = (intervalMs: number, fn: () => void): void => {
      const loop = (atMs: number): void => {
        ctx.timers.schedule(atMs, () => {
          fn()
          loop(atMs + intervalMs)
        })
      }
      loop(now + randomOffsetMs(intervalMs, () => ctx.random.float()))
    }
    every(c.probeIntervalMs, () => this.#prober.onProbeTick())
    if (c.gossipNodes > 0) every(c.gossipIntervalMs, () => gossipRound(ctx))
    if (c.pushPullIntervalMs > 0) {
      const loop = (atMs: number): void => {
        ctx.timers.schedule(atMs, () => {
          periodicPushPull(ctx)
          loop(ctx.nowMs() + pushPullScaleMs(c.pushPullIntervalMs, ctx.table.size))
        })
      }
      loop(now + randomOffsetMs(c.pushPullIntervalMs, () => ctx.random.float()))
    }
  }

  /** One inbound UDP datagram's messages, in order (compounds flattened by the driver). */
  handlePacket(from: Address, messages: readonly PacketMessage[]): void {
    if (this.#ctx.isShutdown) return
    for (const message of messages) {
      this.metrics.messagesIn++
      this.#dispatchPacket(from, message)
    }
  }

  #dispatchPacket(from: Address, message: PacketMessage): void {
    const ctx = this.#ctx
    switch (message.type) {
      case 'ping':
        this.#prober.handlePing(from, message)
        break
      case 'indirectPing':
        this.#prober.handleIndirectPing(from, message)
        break
      case 'ackResp':
        this.#prober.handleAck(message)
        break
      case 'nackResp':
        this.#prober.handleNack(message)
        break
      case 'alive':
        applyAlive(ctx, message)
        break
      case 'suspect':
        applySuspect(ctx, message)
        break
      case 'dead':
        applyDead(ctx, message)
        break
      case 'user':
        ctx.delegates.notifyMsg?.(message.payload)
        break
    }
  }

  /**
   * One inbound stream frame; returns the reply frame to write (then close), if any:
   * push/pull → our push/pull (we reply first, then merge, as Go); ping → ack if it names us;
   * user → delivered, no reply. Other frames are dropped and counted.
   */
  handleStream(from: Address, message: StreamMessage): StreamMessage | undefined {
    const ctx = this.#ctx
    if (ctx.isShutdown) return undefined
    this.metrics.messagesIn++
    switch (message.type) {
      case 'pushPull': {
        const reply = localPushPull(ctx, message.join)
        mergeRemote(ctx, message)
        this.metrics.messagesOut++
        return reply
      }
      case 'ping': {
        const ack = this.#prober.handleStreamPing(message)
        if (ack !== undefined) this.metrics.messagesOut++
        return ack
      }
      case 'user':
        ctx.delegates.notifyMsg?.(message.payload)
        return undefined
      default:
        void from
        this.metrics.malformedDropped++
        return undefined
    }
  }

  /** Completion of an outbound `stream` output. Unknown or late ids are ignored. */
  onStreamResult(requestId: number, result: StreamResult): void {
    if (this.#ctx.isShutdown) return
    this.#ctx.resolveStream(requestId, result)
  }

  /** Fires every timer due at `clock.nowMs()`. Calling it early is harmless. */
  tick(): void {
    if (this.#ctx.isShutdown) return
    this.#ctx.timers.fireDue(this.#ctx.nowMs())
  }

  /** Earliest pending deadline, or undefined when nothing is scheduled (after shutdown). */
  nextDeadlineMs(): Millis | undefined {
    return this.#ctx.timers.nextDeadlineMs()
  }

  /** Outputs produced since the last call, oldest first; the internal buffer is emptied. */
  takeOutputs(): CoreOutput[] {
    return this.#ctx.takeOutputs()
  }

  /**
   * Starts a join push/pull with each address (already resolved by the driver). Completes with
   * one `joinComplete` output carrying the returned id; Go's Join fails only if none succeed.
   */
  join(addresses: readonly Address[]): number {
    const ctx = this.#ctx
    const joinId = this.#nextJoinId++
    const errors: string[] = []
    let successCount = 0
    let remaining = addresses.length
    const finish = (): void => {
      ctx.output({ kind: 'joinComplete', joinId, successCount, errors })
    }
    if (remaining === 0 || ctx.isShutdown) {
      finish()
      return joinId
    }
    for (const to of addresses) {
      pushPullWith(ctx, {
        to,
        join: true,
        done: (error) => {
          if (error === undefined) successCount++
          else errors.push(error)
          if (--remaining === 0) finish()
        },
      })
    }
    return joinId
  }

  /**
   * Broadcasts our graceful leave (dead about ourselves, From = us, seen as `left`). Completes
   * with one `leaveComplete` output once the broadcast has been fully transmitted (or at once
   * when no other node is alive), or with `timedOut: true` after `timeoutMs`.
   */
  leave(timeoutMs: number): void {
    const ctx = this.#ctx
    if (ctx.isLeaving || ctx.isShutdown) {
      ctx.output({ kind: 'leaveComplete', timedOut: false })
      return
    }
    ctx.isLeaving = true
    const complete = this.#once((timedOut) => ctx.output({ kind: 'leaveComplete', timedOut }))
    const self = ctx.self()
    const dead = {
      type: 'dead' as const,
      incarnation: self.incarnation,
      node: self.name,
      from: self.name,
    }
    applyDead(ctx, dead, () => complete(false))
    if (!ctx.anyAlive()) complete(false)
    else ctx.timers.schedule(ctx.nowMs() + timeoutMs, () => complete(true))
  }

  /**
   * Re-advertises ourselves with incarnation + 1 and fresh delegate metadata (Go's
   * UpdateNode). Completes with `updateComplete`. Throws {@link MetaTooLargeError}.
   */
  updateNode(timeoutMs: number): void {
    const ctx = this.#ctx
    const complete = this.#once((timedOut) => ctx.output({ kind: 'updateComplete', timedOut }))
    this.#advertiseSelf(() => complete(false))
    if (!ctx.anyAlive()) complete(false)
    else ctx.timers.schedule(ctx.nowMs() + timeoutMs, () => complete(true))
  }

  #once(fn: (timedOut: boolean) => void): (timedOut: boolean) => void {
    let isDone = false
    return (timedOut) => {
      if (isDone) return
      isDone = true
      fn(timedOut)
    }
  }

  /** Sends a user message over UDP, as one datagram without piggy-backing (as Go). */
  sendBestEffort(to: Address, payload: Uint8Array): void {
    if (this.#ctx.isShutdown) return
    this.#ctx.sendPacket(to, [{ type: 'user', payload }])
  }

  /** Sends a user message over TCP; its `stream` output expects no reply. */
  sendReliable(to: Address, payload: Uint8Array): void {
    const ctx = this.#ctx
    if (ctx.isShutdown) return
    ctx.requestStream({
      to,
      message: { type: 'user', payload },
      expectsReply: false,
      deadlineMs: ctx.nowMs() + this.config.tcpTimeoutMs,
      onResult: () => {},
    })
  }

  /** Stops all timers and drops pending work and outputs; later inputs are ignored. */
  shutdown(): void {
    this.#ctx.clearPending()
    this.#ctx.isShutdown = true
  }

  /** True after {@link shutdown}. */
  get isShutdown(): boolean {
    return this.#ctx.isShutdown
  }

  /** Alive and suspect members (memberlist's Members()), including ourselves. */
  members(): NodeInfo[] {
    return this.#ctx.table
      .all()
      .filter((r) => r.state === 'alive' || r.state === 'suspect')
      .map(toNodeInfo)
  }

  /** Every table entry, including dead and left ones not yet reaped. */
  allNodes(): NodeInfo[] {
    return this.#ctx.table.all().map(toNodeInfo)
  }

  /** One node's entry by name. */
  node(name: string): NodeInfo | undefined {
    const record = this.#ctx.table.get(name)
    return record === undefined ? undefined : toNodeInfo(record)
  }

  /** Our own entry. */
  localNode(): NodeInfo {
    return toNodeInfo(this.#ctx.self())
  }

  /** Lifeguard awareness score (0 = healthy). */
  healthScore(): number {
    return this.#ctx.awareness.score
  }

  /** Alive + suspect members count. */
  numMembers(): number {
    let count = 0
    for (const r of this.#ctx.table.all()) if (r.state === 'alive' || r.state === 'suspect') count++
    return count
  }

  /** Queued memberlist broadcasts (for tests and metrics). */
  broadcastQueueLength(): number {
    return this.#ctx.broadcasts.length
  }
}
