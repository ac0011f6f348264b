/**
 * memberlist's message structs, as TypeScript values. Wire constants and field names follow
 * hashicorp/memberlist (see shared/reference/memberlist-wire-protocol.md §2). Byte fields
 * (`[]byte` in Go, including IPs and Vsn) are Uint8Array; Go encodes them in the msgpack str
 * family, so the codec must too. Optional (`omitempty`) fields are `undefined` when absent.
 */

/** Message type bytes. Append only: these numbers are protocol. */
export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  err: 13,
  hasLabel: 244,
} as const
export type MessageTypeName = keyof typeof MessageType
export type MessageTypeByte = (typeof MessageType)[MessageTypeName]

/** Node states as carried in push/pull `State`. */
export const NodeStateCode = { alive: 0, suspect: 1, dead: 2, left: 3 } as const
export type NodeStateName = keyof typeof NodeStateCode

export interface Ping {
  readonly type: 'ping'
  /** Name of the intended target; a receiver with another name ignores the ping. */
  readonly node: string
  readonly seqNo: number
  readonly sourceAddr?: Uint8Array | undefined
  readonly sourceNode?: string | undefined
  readonly sourcePort?: number | undefined
}

export interface IndirectPingReq {
  readonly type: 'indirectPing'
  readonly nack: boolean
  readonly node: string
  readonly port: number
  readonly seqNo: number
  readonly target: Uint8Array
  readonly sourceAddr?: Uint8Array | undefined
  readonly sourceNode?: string | undefined
  readonly sourcePort?: number | undefined
}

export interface AckResp {
  readonly type: 'ackResp'
  readonly seqNo: number
  /** nil on the wire (c0) when undefined. */
  readonly payload?: Uint8Array | undefined
}

export interface NackResp {
  readonly type: 'nackResp'
  readonly seqNo: number
}

export interface ErrResp {
  readonly type: 'err'
  readonly error: string
}

export interface Suspect {
  readonly type: 'suspect'
  readonly incarnation: number
  readonly node: string
  readonly from: string
}

export interface Alive {
  readonly type: 'alive'
  readonly incarnation: number
  readonly node: string
  /** 4 or 16 bytes, kept exactly as given. */
  readonly addr: Uint8Array
  readonly port: number
  /** Delegate metadata, <= 512 bytes; nil on the wire when undefined. */
  readonly meta?: Uint8Array | undefined
  /** Always 6 bytes when we send: [pMin, pMax, pCur, dMin, dMax, dCur]. */
  readonly vsn: Uint8Array
}

export interface Dead {
  readonly type: 'dead'
  readonly incarnation: number
  readonly node: string
  /** Who declared it dead; equal to `node` for a graceful leave. */
  readonly from: string
}

/** A user message sent as a UDP packet: type byte 8 followed by the raw bytes. */
export interface UserMsg {
  readonly type: 'user'
  readonly payload: Uint8Array
}

/** One node's entry in a push/pull exchange. */
export interface PushNodeState {
  readonly name: string
  readonly addr: Uint8Array
  readonly port: number
  readonly meta?: Uint8Array | undefined
  readonly incarnation: number
  readonly state: NodeStateName
  readonly vsn: Uint8Array
}

/** A complete push/pull frame (header + nodes + user state), stream only. */
export interface PushPull {
  readonly type: 'pushPull'
  readonly join: boolean
  readonly nodes: readonly PushNodeState[]
  /** Delegate LocalState bytes (may be empty). */
  readonly userState: Uint8Array
}

/** Messages that may appear inside a UDP packet (possibly within a compound). */
export type PacketMessage =
  | Ping
  | IndirectPingReq
  | AckResp
  | NackResp
  | Suspect
  | Alive
  | Dead
  | UserMsg

/** Messages that may appear as one frame on a TCP stream. */
export type StreamMessage = Ping | AckResp | PushPull | UserMsg | ErrResp
