/**
 * Ports of the sans-I/O memberlist core: everything the core needs from the outside world
 * (time, randomness, message sizing, application delegates) and everything it hands back
 * (packets and streams to send, membership events). The core never touches a socket, a timer
 * or the system clock; a driver (the Node driver over dgram + net, or the simulator) owns those
 * and moves data across this boundary synchronously.
 *
 * Contract for drivers (see also `memberlist-core.ts`):
 * - Every core method is synchronous, never awaits and never throws for operating conditions
 *   (bad input is dropped and counted in {@link MemberlistMetrics}).
 * - After any call into the core, the driver drains `core.takeOutputs()` and acts on each
 *   {@link CoreOutput} in order, then re-arms its single timer for `core.nextDeadlineMs()`.
 * - Delegate callbacks are invoked synchronously from inside core calls, never concurrently.
 */

import type { NodeStateName, PacketMessage, StreamMessage } from '../wire/messages.ts'

/** Monotonic milliseconds. Never decreases. */
export type Millis = number

/** Monotonic clock. The simulator supplies virtual time. */
export interface Clock {
  /** Current monotonic time in milliseconds. */
  nowMs(): Millis
}

/** Source of randomness. The driver uses crypto or Math.random; the simulator a seeded PRNG. */
export interface Random {
  /** Uniform in [0, 1). */
  float(): number
  /** Uniform integer in [0, n). `n` must be a positive integer. */
  intBelow(n: number): number
  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): void
}

/** A UDP/TCP endpoint. `ip` is 4 or 16 raw bytes, kept exactly as received (§10). */
export interface Address {
  readonly ip: Uint8Array
  readonly port: number
}

/** Formats an address as `a.b.c.d:port` or `[v6]:port`. */
export function formatAddress(address: Address): string {
  return `${formatIp(address.ip)}:${address.port}`
}

/** Formats a 4- or 16-byte IP. Other lengths print as hex (never throws). */
export function formatIp(ip: Uint8Array): string {
  if (ip.length === 4) return Array.from(ip).join('.')
  if (ip.length === 16) {
    const groups: string[] = []
    for (let i = 0; i < 16; i += 2) groups.push(((ip[i]! << 8) | ip[i + 1]!).toString(16))
    return `[${groups.join(':')}]`
  }
  return `0x${Array.from(ip, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

/** A stable map key for an address (same bytes and port ⇒ same key). */
export function addressKey(address: Address): string {
  return formatAddress(address)
}

/** True when both IPs have identical bytes (Go compares raw bytes; 4 ≠ 16-byte forms). */
export function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Node states. `left` is a graceful leave (dead with From == Node). */
export type { NodeStateName }

/** A read-only snapshot of one member, as handed to events and `members()`. */
export interface NodeInfo {
  readonly name: string
  readonly addr: Uint8Array
  readonly port: number
  /** Delegate metadata (<= 512 bytes); empty when none. */
  readonly meta: Uint8Array
  readonly incarnation: number
  readonly state: NodeStateName
  /** Protocol min/max/current, delegate min/max/current. */
  readonly vsn: readonly [number, number, number, number, number, number]
}

/**
 * Application hooks, memberlist's `Delegate` + optional delegates (§6.8). All optional; all
 * called synchronously. None may block or re-enter the core.
 */
export interface Delegates {
  /** Metadata for our alive messages; must be <= `limit` (512) bytes or it is rejected. */
  nodeMeta?(limit: number): Uint8Array
  /** A user message arrived (UDP best-effort or TCP reliable). */
  notifyMsg?(payload: Uint8Array): void
  /** User broadcasts to piggy-back: each costs `overheadBytes` plus its length; total <= `limitBytes`. */
  getBroadcasts?(overheadBytes: number, limitBytes: number): Uint8Array[]
  /** State to send in a push/pull. */
  localState?(join: boolean): Uint8Array
  /** Remote state received in a push/pull. */
  mergeRemoteState?(state: Uint8Array, join: boolean): void
  /** Join-time merge veto (MergeDelegate). Return an error string to refuse the merge. */
  notifyMerge?(peers: readonly NodeInfo[]): string | undefined
  /** Alive veto (AliveDelegate). Return an error string to ignore the alive message. */
  notifyAlive?(peer: NodeInfo): string | undefined
  /** Address conflict notice (ConflictDelegate). */
  notifyConflict?(existing: NodeInfo, other: NodeInfo): void
  /** Payload for acks to direct pings (PingDelegate). */
  ackPayload?(): Uint8Array
  /** A direct probe completed (PingDelegate). */
  notifyPingComplete?(node: NodeInfo, rttMs: number, payload: Uint8Array | undefined): void
}

/** Membership change events (memberlist's EventDelegate). */
export type MemberEvent =
  | { readonly type: 'join'; readonly node: NodeInfo }
  | { readonly type: 'leave'; readonly node: NodeInfo }
  | { readonly type: 'update'; readonly node: NodeInfo }

/** Result of an outbound stream the core asked for. */
export type StreamResult =
  | { readonly ok: true; readonly reply?: StreamMessage | undefined }
  | { readonly ok: false; readonly error: string }

/**
 * What the core asks the driver to do. Drain with `core.takeOutputs()` after every call.
 *
 * - `packet`: send one UDP datagram. `messages` has >= 1 entries; if more than one, encode them
 *   as a compound (type 7) in order. Then compress (only if smaller and enabled), add CRC when
 *   `targetPMax >= 5`, encrypt, prefix the label. The core has already kept the logical size
 *   within the UDP budget it was told about (`config.udpBufferSize - config.packetOverheadBytes`).
 * - `stream`: open a TCP connection to `to`, write `message` as one stream frame, and if
 *   `expectsReply` read one reply frame; give up at `deadlineMs` (monotonic, same clock as the
 *   core). Then ALWAYS call `core.onStreamResult(requestId, result)` exactly once (with
 *   `{ok:true}` and no reply for fire-and-forget streams). A dial failure is `{ok:false}`.
 * - `event`: a join / leave / update event for the application.
 * - `joinComplete`: a `join()` call finished; `successCount` of the requested addresses
 *   completed a push/pull. Go's `Join` errors only when this is 0.
 * - `leaveComplete`: a `leave()` finished (our leave broadcast was sent at least once, or the
 *   timeout passed: `timedOut`).
 * - `updateComplete`: an `updateNode()` broadcast was sent at least once, or timed out.
 */
export type CoreOutput =
  | {
      readonly kind: 'packet'
      readonly to: Address
      readonly messages: readonly PacketMessage[]
      /** Destination's advertised protocol max, when the destination is a known node. */
      readonly targetPMax?: number | undefined
    }
  | {
      readonly kind: 'stream'
      readonly requestId: number
      readonly to: Address
      readonly message: StreamMessage
      readonly expectsReply: boolean
      readonly deadlineMs: Millis
    }
  | { readonly kind: 'event'; readonly event: MemberEvent }
  | {
      readonly kind: 'joinComplete'
      readonly joinId: number
      readonly successCount: number
      readonly errors: readonly string[]
    }
  | { readonly kind: 'leaveComplete'; readonly timedOut: boolean }
  | { readonly kind: 'updateComplete'; readonly timedOut: boolean }

/**
 * Computes the encoded size in bytes of a packet message (type byte + body), used for the
 * broadcast queue's ordering and the UDP budget. The driver passes the codec's exact size; the
 * default is {@link estimateMessageBytes} in `message-size.ts`.
 */
export type MessageSizer = (message: PacketMessage) => number

/** Capabilities injected into the core (config is separate, plain data). */
export interface CoreComponents {
  readonly clock: Clock
  readonly random: Random
  readonly delegates?: Delegates | undefined
  readonly sizer?: MessageSizer | undefined
  /**
   * Bytes the driver currently adds around each packet (label, encryption), read at every send
   * so that keys installed at runtime shrink the budget at once. Default: the config's fixed
   * `packetOverheadBytes`.
   */
  readonly packetOverheadBytes?: (() => number) | undefined
}
