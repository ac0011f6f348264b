// Goal: a real Memberlist on loopback survives a hostile client (issue 3, "Bad input never
// crashes a node"). Two nodes join; a hostile client then sends node A a few thousand random
// and mutated valid datagrams (ping, alive, compound, compressed, CRC, encrypted when a key is
// set) and opens TCP connections with random bytes, truncated frames, an oversized encrypted
// length, a push/pull header claiming 2^20 nodes then stalling, a slowloris byte, and more
// concurrent connections than the inbound limit. A must not crash, must count what it drops,
// must close every hostile connection by its TCP timeout, must still answer a legitimate
// probe, and both nodes must still see each other alive. All of it with and without a key.
// Every loop is bounded in count and every wait has a deadline.
import assert from 'node:assert/strict'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import { afterEach, describe, test } from 'node:test'
import fc from 'fast-check'
import { Memberlist } from '../../src/index.ts'
import { Keyring } from '../../src/wire/keyring.ts'
import type { PacketMessage, PushNodeState, StreamMessage } from '../../src/wire/messages.ts'
import { decodePacket, encodePacket } from '../../src/wire/packet.ts'
import { encodeStreamFrame } from '../../src/wire/stream.ts'

const KEY = Buffer.alloc(16, 7)
const LOOPBACK = Uint8Array.of(127, 0, 0, 1)
const VSN = Uint8Array.of(1, 5, 2, 0, 0, 0)
const TCP_TIMEOUT_MS = 1_000
/** Bounds of the hostile phase. */
const DATAGRAMS = 3_000
const DATAGRAM_BATCH = 100
const CONCURRENT_CONNECTIONS = 200

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function node(
  name: string,
  options: { key?: Buffer; compression?: boolean; bufferBudgetBytes?: number } = {},
) {
  const list = await Memberlist.create({
    name,
    bindAddr: '127.0.0.1',
    bindPort: 0,
    preset: 'local',
    timings: { tcpTimeoutMs: TCP_TIMEOUT_MS },
    ...(options.key === undefined ? {} : { secretKey: options.key }),
    ...(options.compression === undefined ? {} : { enableCompression: options.compression }),
    ...(options.bufferBudgetBytes === undefined
      ? {}
      : { maxInboundBufferedBytes: options.bufferBudgetBytes }),
  })
  cleanups.push(() => list.shutdown())
  return list
}

async function udpSocket(): Promise<UdpSocket> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  return socket
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves when `predicate` holds, polling every 20 ms, or rejects after `timeoutMs`. */
async function eventually(predicate: () => boolean, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

function portOf(list: Memberlist): number {
  return list.localNode.port
}

function seeEachOther(a: Memberlist, b: Memberlist): boolean {
  const alive = (list: Memberlist, name: string) =>
    list.members().some((m) => m.name === name && m.state === 'alive')
  return alive(a, 'b') && alive(b, 'a')
}

// ---- valid encodings, to send as they are and mutated ------------------------------------

let nonce = 0
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (nonce++ * 131 + i * 7) & 255
  return out
}

function ring(key: Buffer | undefined): Keyring | undefined {
  if (key === undefined) return undefined
  const built = Keyring.create({ keys: [key] })
  assert.ok(built.ok)
  return built.keyring
}

function datagram(
  messages: PacketMessage[],
  key: Buffer | undefined,
  crc = false,
  compress = false,
) {
  return encodePacket(messages, {
    compress,
    crc,
    label: '',
    keyring: ring(key),
    verifyOutgoing: true,
    randomBytes,
  })
}

function frame(message: StreamMessage, key: Buffer | undefined): Uint8Array {
  return encodeStreamFrame(message, {
    compress: false,
    label: '',
    writeLabelHeader: true,
    keyring: ring(key),
    verifyOutgoing: true,
    randomBytes,
  })
}

function fake(i: number, port: number): PushNodeState {
  return { name: `fake-${i}`, addr: LOOPBACK, port, incarnation: 1, state: 'alive', vsn: VSN }
}

/** Valid datagrams a hostile client might capture or forge, in every envelope. */
function validDatagrams(target: string, sinkPort: number, key: Buffer | undefined): Uint8Array[] {
  const ping: PacketMessage = { type: 'ping', seqNo: 1, node: target }
  const alive: PacketMessage = {
    type: 'alive',
    incarnation: 1,
    node: 'fake-udp',
    addr: LOOPBACK,
    port: sinkPort,
    meta: Buffer.from('m'),
    vsn: VSN,
  }
  // An alive with port 0: probing it must not crash the node's UDP send.
  const ghost: PacketMessage = { ...alive, node: 'ghost', port: 0 }
  const suspect: PacketMessage = { type: 'suspect', incarnation: 1, node: 'fake-udp', from: 'x' }
  const compound = [ping, alive, suspect, { type: 'user', payload: Buffer.from('hi') } as const]
  const out = [
    datagram([ping], key),
    datagram([alive], key),
    datagram([ghost], key),
    datagram(compound, key),
    datagram(compound, key, true),
    datagram(compound, key, false, true),
    datagram(compound, key, true, true),
    datagram([{ type: 'ackResp', seqNo: 123456, payload: Buffer.from('p') }], key),
  ]
  // With a key, plaintext is refused (GossipVerifyIncoming) and must be counted too.
  if (key !== undefined) out.push(datagram(compound, undefined), datagram([ghost], undefined))
  return out
}

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
)

function mutate(buf: Uint8Array, m: typeof mutationArb extends fc.Arbitrary<infer M> ? M : never) {
  const at = m.at % Math.max(1, buf.length)
  const out = Array.from(buf)
  if (m.kind === 'flip') out[at] = (out[at] ?? 0) ^ (1 << m.bit)
  if (m.kind === 'truncate') out.length = at
  if (m.kind === 'insert') out.splice(at, 0, ...m.bytes)
  return Uint8Array.from(out)
}

/** `count` hostile datagrams: random bytes, and valid ones as they are or mutated. */
function hostileDatagrams(valid: Uint8Array[], count: number, seed: number): Uint8Array[] {
  const arb = fc.oneof(
    fc.uint8Array({ maxLength: 1_500 }),
    fc.constantFrom(...valid),
    fc.tuple(fc.constantFrom(...valid), mutationArb).map(([v, m]) => mutate(v, m)),
    fc
      .tuple(fc.constantFrom(...valid), mutationArb, mutationArb)
      .map(([v, m1, m2]) => mutate(mutate(v, m1), m2)),
  )
  return fc.sample(arb, { numRuns: count, seed }).filter((d) => d.length > 0)
}

// ---- TCP attacks ---------------------------------------------------------------------------

interface Attack {
  readonly socket: Socket
  /** Resolves with the ms from connect until the node closed the connection. */
  readonly closed: Promise<number>
}

function attack(port: number, write: (socket: Socket) => void): Attack {
  const startedMs = performance.now()
  const socket = connect({ host: '127.0.0.1', port })
  cleanups.push(() => void socket.destroy())
  const closed = new Promise<number>((resolve) => {
    socket.on('close', () => resolve(performance.now() - startedMs))
  })
  socket.on('error', () => {})
  socket.on('data', () => {})
  socket.on('connect', () => write(socket))
  return { socket, closed }
}

/** Push/pull header {Join: false, Nodes: 2^20, UserStateLen: 0}, then nothing. */
const PUSH_PULL_2_20 = Buffer.concat([
  Buffer.of(6, 0x83, 0xa4),
  Buffer.from('Join'),
  Buffer.of(0xc2, 0xa5),
  Buffer.from('Nodes'),
  Buffer.of(0xce, 0x00, 0x10, 0x00, 0x00, 0xac),
  Buffer.from('UserStateLen'),
  Buffer.of(0x00),
])

function tcpAttacks(port: number, key: Buffer | undefined, sinkPort: number): Attack[] {
  const pushPull = frame(
    {
      type: 'pushPull',
      join: false,
      nodes: [fake(1, sinkPort), fake(2, sinkPort)],
      userState: new Uint8Array(0),
    },
    key,
  )
  const randomChunks = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 4_096 }), {
    numRuns: 40,
    seed: 5,
  })
  const attacks: Attack[] = []
  for (const chunk of randomChunks) attacks.push(attack(port, (s) => s.end(chunk)))
  for (let cut = 1; cut < pushPull.length; cut += Math.ceil(pushPull.length / 20)) {
    attacks.push(attack(port, (s) => s.end(pushPull.subarray(0, cut))))
    attacks.push(attack(port, (s) => s.write(pushPull.subarray(0, cut)))) // and keep it open
  }
  attacks.push(attack(port, (s) => s.write(Buffer.of(10, 0xff, 0xff, 0xff, 0xff))))
  attacks.push(attack(port, (s) => s.write(Buffer.of(10, 0, 0, 0x10, 0, 1, 2, 3))))
  attacks.push(attack(port, (s) => s.write(PUSH_PULL_2_20)))
  attacks.push(attack(port, (s) => s.write(Buffer.of(6)))) // slowloris: one byte, then nothing
  attacks.push(attack(port, (s) => s.write(Buffer.alloc(64 * 1024, 0xa5))))
  return attacks
}

/** A legitimate UDP probe from outside: ping A by name and wait for the matching ack. */
async function probe(target: Memberlist, key: Buffer | undefined, seqNo: number): Promise<boolean> {
  const socket = await udpSocket()
  const port = socket.address().port
  const ping: PacketMessage = {
    type: 'ping',
    seqNo,
    node: target.localNode.name,
    sourceAddr: LOOPBACK,
    sourcePort: port,
    sourceNode: 'prober',
  }
  const acked = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 2_000)
    socket.on('message', (bytes) => {
      const decoded = decodePacket(bytes, {
        label: '',
        skipInboundLabelCheck: false,
        keyring: ring(key),
        verifyIncoming: true,
      })
      if (!decoded.ok) return
      if (decoded.messages.some((m) => m.type === 'ackResp' && m.seqNo === seqNo)) {
        clearTimeout(timer)
        resolve(true)
      }
    })
  })
  socket.send(datagram([ping], key), portOf(target), '127.0.0.1')
  return acked
}

async function joinedPair(key: Buffer | undefined) {
  const a = await node('a', key === undefined ? {} : { key })
  const b = await node('b', key === undefined ? {} : { key })
  await b.join([a.localNode.address])
  await eventually(() => seeEachOther(a, b), 5_000, 'a and b to see each other')
  return { a, b }
}

describe('hostile input to a Memberlist on loopback sockets', () => {
  for (const key of [undefined, KEY]) {
    const mode = key === undefined ? 'without a key' : 'with a key'
    test(`random and mutated datagrams and hostile TCP streams neither crash nor stall the node (${mode})`, async () => {
      const { a, b } = await joinedPair(key)
      const sink = await udpSocket() // where forged members live; it swallows A's probes
      const sinkPort = sink.address().port
      const attacker = await udpSocket()
      const rssBeforeBytes = process.memoryUsage().rss

      const droppedBefore = a.metrics.malformedDropped
      const valid = validDatagrams('a', sinkPort, key)
      const hostile = hostileDatagrams(valid, DATAGRAMS, key === undefined ? 1 : 2)
      for (let i = 0; i < hostile.length; i += DATAGRAM_BATCH) {
        for (const d of hostile.slice(i, i + DATAGRAM_BATCH))
          attacker.send(d, portOf(a), '127.0.0.1')
        await sleep(5)
      }
      const attacks = tcpAttacks(portOf(a), key, sinkPort)
      const crowd: Attack[] = []
      for (let i = 0; i < CONCURRENT_CONNECTIONS; i++) {
        crowd.push(attack(portOf(a), (s) => s.write(Buffer.of(6))))
      }
      await eventually(() => a.metrics.malformedDropped > droppedBefore + 100, 5_000, 'drops')

      // Every hostile connection is closed by A, at the latest by its TCP timeout.
      const closedMs = await Promise.all([...attacks, ...crowd].map((x) => x.closed))
      const slowestMs = Math.max(...closedMs)
      assert.ok(
        slowestMs < TCP_TIMEOUT_MS + 1_500,
        `slowest close after ${slowestMs.toFixed(0)} ms`,
      )

      assert.ok(await probe(a, key, 4242), 'A still answers a legitimate probe')
      await eventually(() => seeEachOther(a, b), 10_000, 'a and b still see each other alive')
      assert.equal(a.localNode.state, 'alive')
      const grownBytes = process.memoryUsage().rss - rssBeforeBytes
      assert.ok(grownBytes < 256 * 1024 * 1024, `rss grew by ${grownBytes} bytes`)
    })
  }

  test('incomplete inbound frames share one byte budget: the stream that exceeds it is dropped', async () => {
    const mib = 1024 * 1024
    const a = await node('a', { bufferBudgetBytes: 4 * mib })
    const before = a.metrics.malformedDropped
    const big = frame({ type: 'user', payload: new Uint8Array(2 * mib) }, undefined)
    const partial = big.subarray(0, big.length - mib / 2) // 1.5 MiB, then stall
    const streams = Array.from({ length: 4 }, () => attack(portOf(a), (s) => s.write(partial)))
    const closedMs = await Promise.all(streams.map((x) => x.closed))
    assert.ok(Math.min(...closedMs) < TCP_TIMEOUT_MS / 2, 'one was dropped before the timeout')
    assert.ok(a.metrics.malformedDropped > before)
    assert.ok(await probe(a, undefined, 7), 'A still answers a probe')
  })

  test('keys installed at runtime on a node created without one shrink its packet budget', async () => {
    const a = await node('a', { compression: false })
    assert.ok(a.keyring.install(KEY).ok)
    // Queue many broadcasts at A: a push/pull full of members (encrypted: A now wants a key).
    const sink = await udpSocket()
    const nodes = Array.from({ length: 200 }, (_, i) => fake(i, sink.address().port))
    const pushPull = frame(
      { type: 'pushPull', join: false, nodes, userState: new Uint8Array(0) },
      KEY,
    )
    const x = attack(portOf(a), (s) => s.write(pushPull))
    await x.closed
    await eventually(() => a.numMembers() > 100, 3_000, 'fakes merged')
    // A ping's ack piggy-backs as many broadcasts as fit: the whole datagram must fit too.
    const prober = await udpSocket()
    const sizes: number[] = []
    prober.on('message', (bytes) => sizes.push(bytes.length))
    for (let i = 0; i < 5; i++) {
      const ping: PacketMessage = { type: 'ping', seqNo: i, node: 'a' }
      prober.send(datagram([ping], KEY), portOf(a), '127.0.0.1')
    }
    await eventually(() => sizes.length >= 5, 3_000, 'acks')
    const largest = Math.max(...sizes)
    assert.ok(largest > 1_300, `acks carry broadcasts (${largest} bytes)`)
    assert.ok(largest <= a.config.udpBufferSize, `ack of ${largest} bytes > UDP buffer`)
  })
})
