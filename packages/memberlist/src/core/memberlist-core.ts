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
import type { MemberlistMetrics } from './metrics.ts'
import type {
  Address,
  CoreComponents,
  CoreOutput,
  Millis,
  NodeInfo,
  StreamResult,
} from './ports.ts'

/** Largest node metadata memberlist accepts (MetaMaxSize). */
export const META_MAX_BYTES = 512

/** The SWIM + Lifeguard membership state machine. See the module header for the driver loop. */
export declare class MemberlistCore {
  /**
   * Creates the core and makes the local node alive with incarnation 1 (its alive message is
   * queued for broadcast and a `join` event for itself is emitted, as in Go). Schedules the
   * probe, gossip and push/pull timers with a random stagger.
   */
  constructor(components: CoreComponents, config: Readonly<MemberlistConfig>)

  /** The resolved config. */
  readonly config: Readonly<MemberlistConfig>
  /** Counters; the driver adds its own (bytes, malformed input) with {@link MemberlistMetrics}. */
  readonly metrics: MemberlistMetrics

  /** One inbound UDP datagram's messages, in order (compounds flattened by the driver). */
  handlePacket(from: Address, messages: readonly PacketMessage[]): void
  /** One inbound stream frame; returns the reply frame to write (then close), if any. */
  handleStream(from: Address, message: StreamMessage): StreamMessage | undefined
  /** Completion of an outbound `stream` output. Unknown ids are ignored. */
  onStreamResult(requestId: number, result: StreamResult): void
  /** Fires every timer due at `clock.nowMs()`. */
  tick(): void
  /** Earliest pending deadline, or undefined when nothing is scheduled (after shutdown). */
  nextDeadlineMs(): Millis | undefined
  /** Outputs produced since the last call, oldest first; the internal buffer is emptied. */
  takeOutputs(): CoreOutput[]

  /** Starts a join push/pull with each address; completes with a `joinComplete` output. */
  join(addresses: readonly Address[]): number
  /** Broadcasts our graceful leave; completes with `leaveComplete` (timedOut after timeoutMs). */
  leave(timeoutMs: number): void
  /** Re-advertises ourselves with incarnation + 1 and fresh delegate metadata. */
  updateNode(timeoutMs: number): void
  /** Sends a user message over UDP (no piggy-backing, as Go). */
  sendBestEffort(to: Address, payload: Uint8Array): void
  /** Sends a user message over TCP; its `stream` output expects no reply. */
  sendReliable(to: Address, payload: Uint8Array): void
  /** Stops all timers and drops pending work; later inputs are ignored. */
  shutdown(): void

  /** Alive and suspect members (memberlist's Members()), including ourselves. */
  members(): NodeInfo[]
  /** Every table entry including dead and left ones not yet reaped. */
  allNodes(): NodeInfo[]
  /** Our own entry. */
  localNode(): NodeInfo
  /** Lifeguard awareness score (0 = healthy). */
  healthScore(): number
  /** Alive + suspect members count. */
  numMembers(): number
}
