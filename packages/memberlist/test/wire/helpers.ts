/**
 * Shared helpers for the wire tests: hex conversion, the deterministic byte generator used to
 * produce the Go LZW reference digests, and fast-check arbitraries for every message type.
 */

import { createHash } from 'node:crypto'
import fc from 'fast-check'
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
} from '../../src/wire/messages.ts'

/** Hex (spaces allowed) to bytes. */
export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'))
}

/** Bytes to lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The generator of the Go reference program: x = x*1103515245 + 12345 mod 2^31. */
export function lcgBytes(n: number, seed: number, mod: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
    out[i] = ((x >>> 16) & 0xff) % mod
  }
  return out
}

/** A fixed nonce source, for known-answer tests. */
export function fixedRandom(bytes: Uint8Array): (n: number) => Uint8Array {
  return (n) => bytes.slice(0, n)
}

/** A seeded nonce source for property tests (deterministic, not secure). */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0
  return (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0
      out[i] = x >>> 24
    }
    return out
  }
}

// ------------------------------------------------------------------------------------------
// Arbitraries. Optional fields are left out (never present as undefined), matching how the
// decoder builds its objects, so round trips compare with deepStrictEqual.

const u32 = fc.nat({ max: 0xffffffff })
const u16 = fc.nat({ max: 0xffff })
const name = fc.string({ unit: 'grapheme', maxLength: 40 })
const bytes = (max: number) => fc.uint8Array({ maxLength: max })
const ip = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
)
const vsn = fc.uint8Array({ minLength: 6, maxLength: 6 })

const source = fc.record(
  {
    sourceAddr: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    sourceNode: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
    sourcePort: fc.integer({ min: 1, max: 0xffff }),
  },
  { requiredKeys: [] },
)

export const pingArb: fc.Arbitrary<Ping> = fc
  .tuple(name, u32, source)
  .map(([node, seqNo, s]) => ({ type: 'ping', node, seqNo, ...s }))

export const indirectArb: fc.Arbitrary<IndirectPingReq> = fc
  .tuple(fc.boolean(), name, u16, u32, ip, source)
  .map(([nack, node, port, seqNo, target, s]) => ({
    type: 'indirectPing',
    nack,
    node,
    port,
    seqNo,
    target,
    ...s,
  }))

export const ackArb: fc.Arbitrary<AckResp> = fc
  .tuple(u32, fc.option(bytes(64), { nil: undefined }))
  .map(([seqNo, payload]) =>
    payload === undefined ? { type: 'ackResp', seqNo } : { type: 'ackResp', seqNo, payload },
  )

export const nackArb: fc.Arbitrary<NackResp> = u32.map((seqNo) => ({ type: 'nackResp', seqNo }))

export const suspectArb: fc.Arbitrary<Suspect> = fc
  .tuple(u32, name, name)
  .map(([incarnation, node, from]) => ({ type: 'suspect', incarnation, node, from }))

export const deadArb: fc.Arbitrary<Dead> = fc
  .tuple(u32, name, name)
  .map(([incarnation, node, from]) => ({ type: 'dead', incarnation, node, from }))

export const aliveArb: fc.Arbitrary<Alive> = fc
  .tuple(u32, name, ip, u16, fc.option(bytes(512), { nil: undefined }), vsn)
  .map(([incarnation, node, addr, port, meta, v]) => ({
    type: 'alive',
    incarnation,
    node,
    addr,
    port,
    ...(meta === undefined ? {} : { meta }),
    vsn: v,
  }))

export const userArb: fc.Arbitrary<UserMsg> = bytes(300).map((payload) => ({
  type: 'user',
  payload,
}))

export const errArb: fc.Arbitrary<ErrResp> = fc
  .string({ unit: 'grapheme', maxLength: 100 })
  .map((error) => ({ type: 'err', error }))

export const pushNodeArb: fc.Arbitrary<PushNodeState> = fc
  .tuple(
    name,
    ip,
    u16,
    fc.option(bytes(64), { nil: undefined }),
    u32,
    fc.constantFrom<NodeStateName>('alive', 'suspect', 'dead', 'left'),
    vsn,
  )
  .map(([n, addr, port, meta, incarnation, state, v]) => ({
    name: n,
    addr,
    port,
    ...(meta === undefined ? {} : { meta }),
    incarnation,
    state,
    vsn: v,
  }))

export const pushPullArb: fc.Arbitrary<PushPull> = fc
  .tuple(fc.boolean(), fc.array(pushNodeArb, { maxLength: 20 }), bytes(400))
  .map(([join, nodes, userState]) => ({ type: 'pushPull', join, nodes, userState }))

export const packetMessageArb: fc.Arbitrary<PacketMessage> = fc.oneof(
  pingArb,
  indirectArb,
  ackArb,
  nackArb,
  suspectArb,
  deadArb,
  aliveArb,
  userArb,
)

export const streamMessageArb: fc.Arbitrary<StreamMessage> = fc.oneof(
  pingArb,
  ackArb,
  errArb,
  userArb,
  pushPullArb,
)
