/**
 * Encoding and decoding of memberlist's messages (shared/reference/memberlist-wire-protocol.md
 * §2 and §3). A message is a type byte followed by a msgpack map whose keys are the Go struct
 * field names, written in byte-wise sorted order as Go's encoder does.
 *
 * Encoding follows Go 0.2.2 byte for byte: `int` fields (Nodes, UserStateLen, UserMsgLen, State)
 * are written unsigned, which both 0.2.2 and HEAD accept. Decoding accepts every form either Go
 * version writes or reads: all integer widths signed or unsigned, str or bin for bytes and
 * strings, nil for absent values, unknown keys skipped and missing keys read as Go's zero value.
 *
 * UDP messages decode from a complete buffer (`decodePacketMessage`). Stream frames arrive in
 * pieces, so `StreamBodyParser` parses a plain frame `[type][body]` incrementally: it can be
 * stepped again as more bytes arrive and resumes where it stopped (§1.5). Nothing here throws on
 * bad input; encoders throw only on caller bugs (a non-integer sequence number, say).
 */

import { type WireFailure, wireFailure } from './failure.ts'
import { defaultWireLimits, type WireLimits } from './limits.ts'
import type {
  AckResp,
  Alive,
  Dead,
  ErrResp,
  IndirectPingReq,
  NackResp,
  NodeStateName,
  PacketMessage,
  Ping,
  PushNodeState,
  PushPull,
  StreamMessage,
  Suspect,
  UserMsg,
} from './messages.ts'
import { MessageType, NodeStateCode } from './messages.ts'
import { decodeMsgpack, decodeUtf8, type MsgpackValue, MsgpackWriter } from './msgpack.ts'

const U16 = 0xffff
const U32 = 0xffffffff

// ---------------------------------------------------------------------------------------------
// Encoding

function writePingFields(w: MsgpackWriter, m: Ping): void {
  const addr = nonEmptyBytes(m.sourceAddr)
  const node = m.sourceNode === '' ? undefined : m.sourceNode
  const port = m.sourcePort === 0 ? undefined : m.sourcePort
  w.mapHeader(2 + count(addr, node, port))
  w.string('Node').string(m.node)
  w.string('SeqNo').uint(checkUint(m.seqNo, U32))
  writeSourceFields(w, addr, node, port)
}

function writeSourceFields(
  w: MsgpackWriter,
  addr: Uint8Array | undefined,
  node: string | undefined,
  port: number | undefined,
): void {
  if (addr !== undefined) w.string('SourceAddr').str(addr)
  if (node !== undefined) w.string('SourceNode').string(node)
  if (port !== undefined) w.string('SourcePort').uint(checkUint(port, U16))
}

function writeIndirectFields(w: MsgpackWriter, m: IndirectPingReq): void {
  const addr = nonEmptyBytes(m.sourceAddr)
  const node = m.sourceNode === '' ? undefined : m.sourceNode
  const port = m.sourcePort === 0 ? undefined : m.sourcePort
  w.mapHeader(5 + count(addr, node, port))
  w.string('Nack').bool(m.nack)
  w.string('Node').string(m.node)
  w.string('Port').uint(checkUint(m.port, U16))
  w.string('SeqNo').uint(checkUint(m.seqNo, U32))
  writeSourceFields(w, addr, node, port)
  w.string('Target').str(m.target)
}

function writeAliveFields(w: MsgpackWriter, m: Alive): void {
  w.mapHeader(6)
  w.string('Addr').str(m.addr)
  w.string('Incarnation').uint(checkUint(m.incarnation, U32))
  w.string('Meta').bytesOrNil(m.meta)
  w.string('Node').string(m.node)
  w.string('Port').uint(checkUint(m.port, U16))
  w.string('Vsn').str(m.vsn)
}

function writeAccusationFields(w: MsgpackWriter, m: Suspect | Dead): void {
  w.mapHeader(3)
  w.string('From').string(m.from)
  w.string('Incarnation').uint(checkUint(m.incarnation, U32))
  w.string('Node').string(m.node)
}

function writeAckFields(w: MsgpackWriter, m: AckResp): void {
  w.mapHeader(2)
  w.string('Payload').bytesOrNil(m.payload)
  w.string('SeqNo').uint(checkUint(m.seqNo, U32))
}

function writeNackFields(w: MsgpackWriter, m: NackResp): void {
  w.mapHeader(1).string('SeqNo').uint(checkUint(m.seqNo, U32))
}

function writeErrFields(w: MsgpackWriter, m: ErrResp): void {
  w.mapHeader(1).string('Error').string(m.error)
}

function writePushNodeState(w: MsgpackWriter, n: PushNodeState): void {
  w.mapHeader(7)
  w.string('Addr').str(n.addr)
  w.string('Incarnation').uint(checkUint(n.incarnation, U32))
  w.string('Meta').bytesOrNil(n.meta)
  w.string('Name').string(n.name)
  w.string('Port').uint(checkUint(n.port, U16))
  w.string('State').uint(NodeStateCode[n.state])
  w.string('Vsn').str(n.vsn)
}

/**
 * Encodes one UDP message: type byte + msgpack body; a user message is `[8]` + its raw bytes.
 * Throws a RangeError only if a numeric field is out of its Go type's range (a caller bug).
 */
export function encodePacketMessage(msg: PacketMessage): Uint8Array {
  const w = new MsgpackWriter().rawByte(MessageType[msg.type])
  switch (msg.type) {
    case 'ping':
      writePingFields(w, msg)
      break
    case 'indirectPing':
      writeIndirectFields(w, msg)
      break
    case 'ackResp':
      writeAckFields(w, msg)
      break
    case 'nackResp':
      writeNackFields(w, msg)
      break
    case 'suspect':
    case 'dead':
      writeAccusationFields(w, msg)
      break
    case 'alive':
      writeAliveFields(w, msg)
      break
    case 'user':
      w.raw(msg.payload)
      break
  }
  return w.finish()
}

/** Encodes the msgpack `pushPullHeader` (unsigned ints, as Go 0.2.2 writes them). */
export function encodePushPullHeader(w: MsgpackWriter, m: PushPull): void {
  w.mapHeader(3)
  w.string('Join').bool(m.join)
  w.string('Nodes').uint(m.nodes.length)
  w.string('UserStateLen').uint(m.userState.length)
}

/**
 * Encodes one plain stream frame `[type][body]` (§1.5): push/pull is header, nodes and raw
 * user state; a user message is `userMsgHeader{UserMsgLen}` then the raw bytes.
 */
export function encodeStreamMessage(msg: StreamMessage): Uint8Array {
  const w = new MsgpackWriter().rawByte(MessageType[msg.type])
  switch (msg.type) {
    case 'ping':
      writePingFields(w, msg)
      break
    case 'ackResp':
      writeAckFields(w, msg)
      break
    case 'err':
      writeErrFields(w, msg)
      break
    case 'user':
      w.mapHeader(1).string('UserMsgLen').uint(msg.payload.length)
      w.raw(msg.payload)
      break
    case 'pushPull':
      encodePushPullHeader(w, msg)
      for (const n of msg.nodes) writePushNodeState(w, n)
      w.raw(msg.userState)
      break
  }
  return w.finish()
}

function count(...xs: unknown[]): number {
  return xs.filter((x) => x !== undefined).length
}

function nonEmptyBytes(b: Uint8Array | undefined): Uint8Array | undefined {
  return b === undefined || b.length === 0 ? undefined : b
}

function checkUint(v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`value ${v} does not fit an unsigned field of max ${max}`)
  }
  return v
}

// ---------------------------------------------------------------------------------------------
// Field readers. They throw FieldError, which the decode entry points turn into a failure.

type Fields = ReadonlyMap<string, MsgpackValue>

class FieldError {
  readonly detail: string
  constructor(detail: string) {
    this.detail = detail
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function readUint(f: Fields, key: string, max: number): number {
  const v = f.get(key)
  if (v === undefined || v === null) return 0
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v
  throw new FieldError(`${key}: expected unsigned integer <= ${max}`)
}

function readInt(f: Fields, key: string): number {
  const v = f.get(key)
  if (v === undefined || v === null) return 0
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  throw new FieldError(`${key}: expected integer`)
}

function readBool(f: Fields, key: string): boolean {
  const v = f.get(key)
  if (v === undefined || v === null || v === false || v === 0) return false
  if (v === true || v === 1) return true
  throw new FieldError(`${key}: expected bool`)
}

function readString(f: Fields, key: string): string {
  const v = f.get(key)
  if (v === undefined || v === null) return ''
  if (!(v instanceof Uint8Array)) throw new FieldError(`${key}: expected string`)
  try {
    return decodeUtf8(v, strictUtf8)
  } catch {
    throw new FieldError(`${key}: invalid UTF-8`)
  }
}

/** A `[]byte` field: str or bin, an array of small ints (HEAD accepts it), or nil (undefined). */
function readBytes(f: Fields, key: string): Uint8Array | undefined {
  const v = f.get(key)
  if (v === undefined || v === null) return undefined
  if (v instanceof Uint8Array) return v
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' && x >= 0 && x <= 255)) {
    return Uint8Array.from(v as number[])
  }
  throw new FieldError(`${key}: expected bytes`)
}

function readSource(f: Fields): Pick<Ping, 'sourceAddr' | 'sourceNode' | 'sourcePort'> {
  const addr = nonEmptyBytes(readBytes(f, 'SourceAddr'))
  const node = readString(f, 'SourceNode')
  const port = readUint(f, 'SourcePort', U16)
  return {
    ...(addr === undefined ? {} : { sourceAddr: addr }),
    ...(node === '' ? {} : { sourceNode: node }),
    ...(port === 0 ? {} : { sourcePort: port }),
  }
}

function pingFrom(f: Fields): Ping {
  return {
    type: 'ping',
    node: readString(f, 'Node'),
    seqNo: readUint(f, 'SeqNo', U32),
    ...readSource(f),
  }
}

function indirectFrom(f: Fields): IndirectPingReq {
  return {
    type: 'indirectPing',
    nack: readBool(f, 'Nack'),
    node: readString(f, 'Node'),
    port: readUint(f, 'Port', U16),
    seqNo: readUint(f, 'SeqNo', U32),
    target: readBytes(f, 'Target') ?? new Uint8Array(0),
    ...readSource(f),
  }
}

function ackFrom(f: Fields): AckResp {
  const payload = readBytes(f, 'Payload')
  return {
    type: 'ackResp',
    seqNo: readUint(f, 'SeqNo', U32),
    ...(payload === undefined ? {} : { payload }),
  }
}

function aliveFrom(f: Fields): Alive {
  const meta = readBytes(f, 'Meta')
  return {
    type: 'alive',
    incarnation: readUint(f, 'Incarnation', U32),
    node: readString(f, 'Node'),
    addr: readBytes(f, 'Addr') ?? new Uint8Array(0),
    port: readUint(f, 'Port', U16),
    ...(meta === undefined ? {} : { meta }),
    vsn: readBytes(f, 'Vsn') ?? new Uint8Array(0),
  }
}

function accusationFrom<T extends 'suspect' | 'dead'>(type: T, f: Fields) {
  return {
    type,
    incarnation: readUint(f, 'Incarnation', U32),
    node: readString(f, 'Node'),
    from: readString(f, 'From'),
  }
}

const stateNames: readonly NodeStateName[] = ['alive', 'suspect', 'dead', 'left']

function pushNodeStateFrom(f: Fields): PushNodeState {
  const meta = readBytes(f, 'Meta')
  const stateCode = readInt(f, 'State')
  const state = stateNames[stateCode]
  if (state === undefined) throw new FieldError(`State: unknown node state ${stateCode}`)
  return {
    name: readString(f, 'Name'),
    addr: readBytes(f, 'Addr') ?? new Uint8Array(0),
    port: readUint(f, 'Port', U16),
    ...(meta === undefined ? {} : { meta }),
    incarnation: readUint(f, 'Incarnation', U32),
    state,
    vsn: readBytes(f, 'Vsn') ?? new Uint8Array(0),
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding a struct (a msgpack map) at an offset.

type StructStep =
  | { readonly status: 'ok'; readonly fields: Fields; readonly bytesRead: number }
  | { readonly status: 'needMore' }
  | { readonly status: 'error'; readonly failure: WireFailure }

/** Decodes one msgpack map at `offset`. Go also reads arrays into structs; nobody sends them. */
export function decodeStructAt(buf: Uint8Array, offset: number, maxBytes?: number): StructStep {
  const limits = maxBytes === undefined ? {} : { maxBytesLength: maxBytes }
  const r = decodeMsgpack(buf, offset, limits)
  if (r.status === 'needMore') return r
  if (r.status === 'malformed') {
    return { status: 'error', failure: wireFailure('malformed-msgpack', r.detail) }
  }
  if (!(r.value instanceof Map)) {
    return { status: 'error', failure: wireFailure('bad-field', 'expected a msgpack map') }
  }
  return { status: 'ok', fields: r.value as Fields, bytesRead: r.bytesRead }
}

/** Result of decoding one UDP message. */
export type PacketMessageResult =
  | { readonly ok: true; readonly message: PacketMessage }
  | WireFailure

const packetReaders: ReadonlyMap<number, (f: Fields) => PacketMessage> = new Map<
  number,
  (f: Fields) => PacketMessage
>([
  [MessageType.ping, pingFrom],
  [MessageType.indirectPing, indirectFrom],
  [MessageType.ackResp, ackFrom],
  [MessageType.suspect, (f) => accusationFrom('suspect', f) as Suspect],
  [MessageType.alive, aliveFrom],
  [MessageType.dead, (f) => accusationFrom('dead', f) as Dead],
  [MessageType.nackResp, (f) => ({ type: 'nackResp', seqNo: readUint(f, 'SeqNo', U32) })],
])

/**
 * Decodes one UDP message `[type][body]`: ping, indirect ping, ack, nack, suspect, alive, dead
 * or user. Compound (7) and compressed (9) wrappers are unwrapped by packet.ts, not here. Bytes
 * after the msgpack body are ignored, as Go ignores them. Never throws.
 */
export function decodePacketMessage(buf: Uint8Array): PacketMessageResult {
  if (buf.length === 0) return wireFailure('empty', 'missing message type byte')
  const type = buf[0]!
  if (type === MessageType.user) {
    const message: UserMsg = { type: 'user', payload: buf.slice(1) }
    return { ok: true, message }
  }
  const reader = packetReaders.get(type)
  if (reader === undefined) return wireFailure('unknown-type', `message type ${type} not supported`)
  const s = decodeStructAt(buf, 1)
  if (s.status === 'needMore') return wireFailure('truncated', 'message body truncated')
  if (s.status === 'error') return s.failure
  try {
    return { ok: true, message: reader(s.fields) }
  } catch (err) {
    if (err instanceof FieldError) return wireFailure('bad-field', err.detail)
    return wireFailure('bad-field', String(err))
  }
}

// ---------------------------------------------------------------------------------------------
// Incremental parsing of a plain stream frame.

/** One step of `StreamBodyParser`. */
export type StreamBodyStep =
  | { readonly status: 'ok'; readonly message: StreamMessage; readonly bytesRead: number }
  | { readonly status: 'needMore' }
  | { readonly status: 'error'; readonly failure: WireFailure }

const needMoreStep: StreamBodyStep = { status: 'needMore' }

/**
 * Parses one plain stream frame `[type][body]` (types 0, 2, 6, 8, 13) from a buffer that holds
 * the frame from its first byte and grows between calls. Progress is kept between calls, so a
 * push/pull with many nodes is not re-parsed from the start each time more bytes arrive.
 */
export class StreamBodyParser {
  private readonly limits: WireLimits
  private pos = 1
  private header: { join: boolean; nodes: number; userStateLen: number } | undefined
  private readonly nodes: PushNodeState[] = []

  constructor(limits: Partial<WireLimits> = {}) {
    this.limits = { ...defaultWireLimits, ...limits }
  }

  /** Continues parsing; `buf` must start with the frame's type byte. Never throws. */
  step(buf: Uint8Array): StreamBodyStep {
    if (buf.length === 0) return needMoreStep
    try {
      return this.dispatch(buf)
    } catch (err) {
      const detail = err instanceof FieldError ? err.detail : String(err)
      return { status: 'error', failure: wireFailure('bad-field', detail) }
    }
  }

  private dispatch(buf: Uint8Array): StreamBodyStep {
    const type = buf[0]!
    switch (type) {
      case MessageType.ping:
        return this.single(buf, pingFrom)
      case MessageType.ackResp:
        return this.single(buf, ackFrom)
      case MessageType.err:
        return this.single(buf, (f): ErrResp => ({ type: 'err', error: readString(f, 'Error') }))
      case MessageType.user:
        return this.userMsg(buf)
      case MessageType.pushPull:
        return this.pushPull(buf)
      default:
        return {
          status: 'error',
          failure: wireFailure('unknown-type', `stream message type ${type} not supported`),
        }
    }
  }

  private struct(buf: Uint8Array): Fields | StreamBodyStep {
    const s = decodeStructAt(buf, this.pos, this.limits.maxPlainFrameBytes)
    if (s.status !== 'ok') return s.status === 'needMore' ? needMoreStep : s
    this.pos += s.bytesRead
    return s.fields
  }

  private single(buf: Uint8Array, read: (f: Fields) => StreamMessage): StreamBodyStep {
    const f = this.struct(buf)
    if (!(f instanceof Map)) return f as StreamBodyStep
    return { status: 'ok', message: read(f), bytesRead: this.pos }
  }

  private userMsg(buf: Uint8Array): StreamBodyStep {
    if (this.header === undefined) {
      const f = this.struct(buf)
      if (!(f instanceof Map)) return f as StreamBodyStep
      const len = readInt(f, 'UserMsgLen')
      if (len < 0 || len > this.limits.maxUserMsgBytes) {
        return tooLarge(`user message length ${len} out of range`)
      }
      this.header = { join: false, nodes: 0, userStateLen: len }
    }
    const end = this.pos + this.header.userStateLen
    if (buf.length < end) return needMoreStep
    const message: UserMsg = { type: 'user', payload: buf.slice(this.pos, end) }
    return { status: 'ok', message, bytesRead: end }
  }

  private pushPull(buf: Uint8Array): StreamBodyStep {
    if (this.header === undefined) {
      const f = this.struct(buf)
      if (!(f instanceof Map)) return f as StreamBodyStep
      const header = {
        join: readBool(f, 'Join'),
        nodes: readInt(f, 'Nodes'),
        userStateLen: readInt(f, 'UserStateLen'),
      }
      if (header.nodes < 0 || header.nodes > this.limits.maxPushPullNodes) {
        return tooLarge(`push/pull node count ${header.nodes} out of range`)
      }
      if (header.userStateLen < 0 || header.userStateLen > this.limits.maxUserStateBytes) {
        return tooLarge(`push/pull user state length ${header.userStateLen} out of range`)
      }
      this.header = header
    }
    while (this.nodes.length < this.header.nodes) {
      const f = this.struct(buf)
      if (!(f instanceof Map)) return f as StreamBodyStep
      this.nodes.push(pushNodeStateFrom(f))
    }
    const end = this.pos + this.header.userStateLen
    if (buf.length < end) return needMoreStep
    const message: PushPull = {
      type: 'pushPull',
      join: this.header.join,
      nodes: this.nodes,
      userState: buf.slice(this.pos, end),
    }
    return { status: 'ok', message, bytesRead: end }
  }
}

function tooLarge(detail: string): StreamBodyStep {
  return { status: 'error', failure: wireFailure('too-large', detail) }
}

/**
 * Decodes one complete plain stream frame (after decryption or decompression, where no more
 * bytes can come: a short frame is `truncated`). Never throws.
 */
export function decodeStreamMessage(
  buf: Uint8Array,
  limits: Partial<WireLimits> = {},
):
  | { readonly ok: true; readonly message: StreamMessage; readonly bytesRead: number }
  | WireFailure {
  if (buf.length === 0) return wireFailure('empty', 'missing message type byte')
  const step = new StreamBodyParser(limits).step(buf)
  if (step.status === 'needMore') return wireFailure('truncated', 'stream frame truncated')
  if (step.status === 'error') return step.failure
  return { ok: true, message: step.message, bytesRead: step.bytesRead }
}
