// Goal: bad input never breaks a node's state machine (issue 3, "Bad input never crashes a
// node"). fast-check builds decoded packet and stream messages with hostile field values —
// unknown names, our own name, incarnations 0 and 2^32−1, short, empty and 255-byte Vsn,
// PMin > PMax, addresses of 0, 5 and 17 bytes, metadata over 512 bytes, ports 0 and 65535,
// colliding and unknown sequence numbers, accusations about ourselves, push/pulls with
// duplicate names — and feeds them to one node of a small simulated cluster, interleaved with
// the passage of virtual time. After every input: nothing threw, the node is still alive with
// an incarnation that never went down, and its table stays bounded; everything it gossips
// still encodes, with a 6-byte Vsn. After the hostile phase the healthy nodes converge again.
//
// One limit is the protocol's, not ours: an accusation at incarnation 2^32−1 about another
// member cannot be refuted (nobody can outbid it), so hostile accusations about the *other*
// healthy members stay below 2^32 − 2^16. Only encryption keeps such messages out.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { estimateMessageBytes } from '../../src/core/message-size.ts'
import type { Address, StreamResult } from '../../src/core/ports.ts'
import { SimCluster, type SimCodec } from '../../src/sim/sim-cluster.ts'
import {
  decodePacketMessage,
  decodeStreamMessage,
  encodePacketMessage,
  encodeStreamMessage,
} from '../../src/wire/codec.ts'
import type {
  Alive,
  NodeStateName,
  PacketMessage,
  PushNodeState,
  PushPull,
  StreamMessage,
} from '../../src/wire/messages.ts'
import { alive, FROM, harness, VSN } from './helpers.ts'

const VICTIM = 'n0'
const HEALTHY = ['n0', 'n1', 'n2', 'n3']
const PEERS = HEALTHY.filter((n) => n !== VICTIM)
/** SimCluster puts the i-th node (1-based) at 10.0.0.i:7946. */
const SIM_IP = (index: number) => Uint8Array.of(10, 0, 0, index)
const U32_MAX = 0xffffffff
/** Highest incarnation a hostile accusation about another healthy member may carry. */
const PEER_INCARNATION_MAX = U32_MAX - 0xffff

// ---- arbitraries ---------------------------------------------------------------------------

const unknownName = fc.constantFrom('x0', 'x1', 'x2', 'x3', 'x4')
const nameArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(VICTIM) },
  { weight: 3, arbitrary: fc.constantFrom(...PEERS) },
  { weight: 3, arbitrary: unknownName },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
)
const incarnationArb = fc.oneof(
  fc.constantFrom(0, 1, 2, 0xfffffffe, U32_MAX),
  fc.nat({ max: 50 }),
  fc.nat({ max: U32_MAX }),
)
const seqNoArb = fc.oneof(
  fc.nat({ max: 40 }),
  fc.constantFrom(0, U32_MAX),
  fc.nat({ max: U32_MAX }),
)
const portArb = fc.oneof(fc.constantFrom(0, 1, 7946, 65535), fc.nat({ max: 65535 }))
const addrArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }).map(SIM_IP) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(0, 5, 17)
      .chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  },
)
const vsnArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(VSN) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 5 }) },
  { weight: 1, arbitrary: fc.constant(Uint8Array.of(5, 1, 2, 0, 0, 0)) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(6)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 6, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 255, maxLength: 255 }) },
)
const metaArb = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 16 }),
  fc.constantFrom(512, 513, 2000).map((n) => new Uint8Array(n).fill(7)),
)
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })

const pingArb = fc.record({
  type: fc.constant('ping' as const),
  node: nameArb,
  seqNo: seqNoArb,
  sourceAddr: optional(addrArb),
  sourcePort: optional(portArb),
  sourceNode: optional(nameArb),
})
const packetMessageArb: fc.Arbitrary<PacketMessage> = fc.oneof(
  pingArb,
  fc.record({
    type: fc.constant('indirectPing' as const),
    seqNo: seqNoArb,
    target: addrArb,
    port: portArb,
    node: nameArb,
    nack: fc.boolean(),
    sourceAddr: optional(addrArb),
    sourcePort: optional(portArb),
    sourceNode: optional(nameArb),
  }),
  fc.record({
    type: fc.constant('ackResp' as const),
    seqNo: seqNoArb,
    payload: optional(fc.uint8Array({ maxLength: 8 })),
  }),
  fc.record({ type: fc.constant('nackResp' as const), seqNo: seqNoArb }),
  fc.record({
    type: fc.constant('suspect' as const),
    incarnation: incarnationArb,
    node: nameArb,
    from: nameArb,
  }),
  fc.record({
    type: fc.constant('dead' as const),
    incarnation: incarnationArb,
    node: nameArb,
    from: nameArb,
  }),
  fc.record({
    type: fc.constant('alive' as const),
    incarnation: incarnationArb,
    node: nameArb,
    addr: addrArb,
    port: portArb,
    meta: metaArb,
    vsn: vsnArb,
  }),
  fc.record({ type: fc.constant('user' as const), payload: fc.uint8Array({ maxLength: 32 }) }),
)
const pushNodeArb: fc.Arbitrary<PushNodeState> = fc.record({
  name: nameArb,
  addr: addrArb,
  port: portArb,
  meta: metaArb,
  incarnation: incarnationArb,
  state: fc.constantFrom<NodeStateName>('alive', 'suspect', 'dead', 'left'),
  vsn: vsnArb,
})
const pushPullArb: fc.Arbitrary<PushPull> = fc.record({
  type: fc.constant('pushPull' as const),
  join: fc.boolean(),
  nodes: fc.array(pushNodeArb, { maxLength: 24 }),
  userState: fc.uint8Array({ maxLength: 16 }),
})
const streamMessageArb: fc.Arbitrary<StreamMessage> = fc.oneof(
  { weight: 4, arbitrary: pushPullArb },
  { weight: 1, arbitrary: pingArb },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('ackResp' as const), seqNo: seqNoArb }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('err' as const), error: fc.string() }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('user' as const), payload: fc.uint8Array() }),
  },
)
const streamResultArb: fc.Arbitrary<StreamResult> = fc.oneof(
  fc.record({ ok: fc.constant(true as const), reply: optional(streamMessageArb) }),
  fc.record({ ok: fc.constant(false as const), error: fc.string({ maxLength: 10 }) }),
)
const fromArb: fc.Arbitrary<Address> = fc.record({ ip: addrArb, port: portArb })

type Action =
  | { kind: 'packet'; from: Address; messages: PacketMessage[] }
  | { kind: 'stream'; from: Address; message: StreamMessage }
  | { kind: 'streamResult'; requestId: number; result: StreamResult }
  | { kind: 'wait'; ms: number }

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('packet' as const),
      from: fromArb,
      messages: fc.array(packetMessageArb, { minLength: 1, maxLength: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('stream' as const),
      from: fromArb,
      message: streamMessageArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('streamResult' as const),
      requestId: fc.nat({ max: 200 }),
      result: streamResultArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.nat({ max: 3_000 }) }),
  },
)

// ---- the protocol limit on other members' incarnations -------------------------------------

function capFor(node: string, incarnation: number): number {
  return PEERS.includes(node) ? Math.min(incarnation, PEER_INCARNATION_MAX) : incarnation
}

function tamePacket(m: PacketMessage): PacketMessage {
  if (m.type === 'alive' || m.type === 'suspect' || m.type === 'dead') {
    return { ...m, incarnation: capFor(m.node, m.incarnation) }
  }
  return m
}

function tameStream(m: StreamMessage): StreamMessage {
  if (m.type !== 'pushPull') return m
  const nodes = m.nodes.map((n) => ({ ...n, incarnation: capFor(n.name, n.incarnation) }))
  return { ...m, nodes }
}

function tame(action: Action): Action {
  switch (action.kind) {
    case 'packet':
      return { ...action, messages: action.messages.map(tamePacket) }
    case 'stream':
      return { ...action, message: tameStream(action.message) }
    case 'streamResult': {
      const r = action.result
      if (!r.ok || r.reply === undefined) return action
      return { ...action, result: { ok: true, reply: tameStream(r.reply) } }
    }
    case 'wait':
      return action
  }
}

function namesIn(action: Action): string[] {
  const names: string[] = []
  const add = (m: PacketMessage | StreamMessage): void => {
    if (m.type === 'alive') names.push(m.node)
    if (m.type === 'pushPull') for (const n of m.nodes) names.push(n.name)
  }
  if (action.kind === 'packet') action.messages.forEach(add)
  if (action.kind === 'stream') add(action.message)
  if (action.kind === 'streamResult' && action.result.ok && action.result.reply) {
    add(action.result.reply)
  }
  return names
}

// ---- what every node sends must stay well-formed -------------------------------------------

/** Wire-level problems in what the nodes send, collected by the codec hook. */
interface Problems {
  readonly found: string[]
}

function checkAlive(problems: Problems, who: string, m: Alive | PushNodeState): void {
  const name = 'node' in m ? m.node : m.name
  if (m.vsn.length !== 6)
    problems.found.push(`${who} sends ${name} with a ${m.vsn.length}-byte Vsn`)
  if ((m.meta?.length ?? 0) > 512) problems.found.push(`${who} sends ${name} with meta > 512`)
}

function checkingCodec(problems: Problems): SimCodec {
  return {
    packet(messages) {
      if (messages.length === 0 || messages.length > 127) {
        problems.found.push(`packet with ${messages.length} parts`)
      }
      return messages.map((m) => {
        if (m.type === 'alive') checkAlive(problems, 'gossip', m)
        const bytes = encodePacketMessage(m)
        if (bytes.length !== estimateMessageBytes(m)) problems.found.push(`sizer off for ${m.type}`)
        const decoded = decodePacketMessage(bytes)
        if (!decoded.ok) throw new Error(`codec failed on ${m.type}: ${decoded.detail}`)
        return decoded.message
      })
    },
    stream(message) {
      if (message.type === 'pushPull')
        for (const n of message.nodes) checkAlive(problems, 'push/pull', n)
      const decoded = decodeStreamMessage(encodeStreamMessage(message))
      if (!decoded.ok) throw new Error(`codec failed on ${message.type}: ${decoded.detail}`)
      return decoded.message
    },
  }
}

// ---- the cluster ---------------------------------------------------------------------------

function joinedCluster(seed: number, problems: Problems): SimCluster {
  const sim = new SimCluster({ seed, codec: checkingCodec(problems), isLogging: false })
  for (const name of HEALTHY) sim.addNode(name)
  for (const name of PEERS) sim.join(name, [VICTIM])
  assert.ok(
    sim.runUntil(() => healthyConverged(sim), 60_000),
    `initial join (seed ${seed})`,
  )
  return sim
}

/** Every healthy node sees every healthy node alive. */
function healthyConverged(sim: SimCluster): boolean {
  return HEALTHY.every((observer) =>
    HEALTHY.every((subject) => sim.view(observer, subject) === 'alive'),
  )
}

function apply(sim: SimCluster, action: Action): void {
  switch (action.kind) {
    case 'packet':
      sim.inject(VICTIM, (core) => core.handlePacket(action.from, action.messages))
      return
    case 'stream': {
      const reply = sim.inject(VICTIM, (core) => core.handleStream(action.from, action.message))
      if (reply?.type === 'pushPull') {
        for (const n of reply.nodes) assert.equal(n.vsn.length, 6, `reply carries ${n.name}`)
        encodeStreamMessage(reply)
      }
      return
    }
    case 'streamResult':
      sim.inject(VICTIM, (core) => core.onStreamResult(action.requestId, action.result))
      return
    case 'wait':
      sim.runFor(action.ms)
      return
  }
}

/** Asserts the victim's invariants; returns its incarnation. */
function checkVictim(sim: SimCluster, lastIncarnation: number, names: Set<string>): number {
  const core = sim.node(VICTIM).core
  const self = core.localNode()
  assert.equal(self.state, 'alive', 'we never stop believing we are alive')
  assert.ok(
    self.incarnation >= lastIncarnation,
    `incarnation went ${lastIncarnation} → ${self.incarnation}`,
  )
  assert.deepEqual(self.vsn, [1, 5, 2, 0, 0, 0])
  const bound = HEALTHY.length + names.size
  assert.ok(core.allNodes().length <= bound, `table ${core.allNodes().length} > ${bound}`)
  assert.ok(core.broadcastQueueLength() <= core.config.broadcastQueueMax)
  for (const node of core.allNodes()) {
    assert.ok(node.addr.length === 4 || node.addr.length === 16, `${node.name} addr`)
    assert.ok(node.meta.length <= 512, `${node.name} meta ${node.meta.length}`)
  }
  return self.incarnation
}

describe('hostile input to the memberlist core', () => {
  test('random hostile messages never throw, keep the node alive and bounded, and the cluster converges afterwards', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(actionArb, { minLength: 1, maxLength: 40 }),
        (seed, rawActions) => {
          const problems: Problems = { found: [] }
          const sim = joinedCluster(seed, problems)
          const names = new Set<string>()
          let incarnation = sim.node(VICTIM).core.localNode().incarnation
          for (const raw of rawActions) {
            const action = tame(raw)
            for (const n of namesIn(action)) names.add(n)
            apply(sim, action)
            incarnation = checkVictim(sim, incarnation, names)
          }
          const converged = sim.runUntil(() => healthyConverged(sim), 600_000)
          assert.ok(converged, `healthy nodes converge after the hostile phase (seed ${seed})`)
          checkVictim(sim, incarnation, names)
          assert.deepEqual(problems.found, [])
        },
      ),
      { numRuns: 100, includeErrorInReport: true },
    )
  })

  test('a push/pull of 10,000 nodes with duplicate names is merged quickly and the cluster converges', () => {
    const problems: Problems = { found: [] }
    const sim = joinedCluster(42, problems)
    const nodes: PushNodeState[] = []
    const states: NodeStateName[] = ['alive', 'suspect', 'dead', 'left']
    for (let i = 0; i < 10_000; i++) {
      const name = i % 10 === 0 ? HEALTHY[i % 4]! : `fake-${i % 5_000}`
      nodes.push({
        name,
        addr: Uint8Array.of(192, 0, 2, i & 255),
        port: 7946,
        incarnation: capFor(name, i),
        state: states[i % 4]!,
        vsn: VSN,
      })
    }
    const startedMs = performance.now()
    const reply = sim.inject(VICTIM, (core) =>
      core.handleStream(FROM, {
        type: 'pushPull',
        join: true,
        nodes,
        userState: new Uint8Array(0),
      }),
    )
    const tookMs = performance.now() - startedMs
    assert.ok(tookMs < 2_000, `merging took ${tookMs.toFixed(0)} ms`)
    assert.equal(reply?.type, 'pushPull')
    const victim = sim.node(VICTIM).core
    assert.ok(victim.allNodes().length <= HEALTHY.length + 5_000)
    assert.ok(victim.broadcastQueueLength() <= victim.config.broadcastQueueMax)
    assert.equal(victim.localNode().state, 'alive')
    // The push/pull planted 1,000 alive fakes at unreachable addresses. SWIM probes one node
    // per interval, so they die out only after about n × probeInterval (as in Go); meanwhile
    // they dilute gossip so much that a healthy node may be declared dead for a while. Once
    // they are reaped, every healthy node is alive in every view again.
    const isClean = (): boolean =>
      healthyConverged(sim) &&
      HEALTHY.every((name) => sim.node(name).core.allNodes().length === HEALTHY.length)
    assert.ok(sim.runUntil(isClean, 4 * 3_600_000), 'healthy nodes converge, fakes reaped')
    assert.deepEqual(problems.found, [])
  })
})

describe('hostile field values, one at a time', () => {
  test('an accusation at incarnation 2^32−1 about ourselves is refuted without wrapping to 0', () => {
    const h = harness()
    h.core.handlePacket(FROM, [{ type: 'suspect', node: 'self', incarnation: U32_MAX, from: 'x' }])
    assert.equal(h.core.localNode().incarnation, U32_MAX)
    h.core.handlePacket(FROM, [{ type: 'dead', node: 'self', incarnation: U32_MAX, from: 'x' }])
    assert.equal(h.core.localNode().incarnation, U32_MAX)
    assert.equal(h.core.localNode().state, 'alive')
    assert.equal(h.core.metrics.refutations, 2)
  })

  test('an alive message with metadata over 512 bytes is dropped and counted', () => {
    const h = harness()
    const before = h.core.metrics.malformedDropped
    h.core.handlePacket(FROM, [alive('a', 5, 1, new Uint8Array(513))])
    assert.equal(h.core.node('a'), undefined)
    assert.equal(h.core.metrics.malformedDropped, before + 1)
    h.core.handlePacket(FROM, [alive('a', 5, 1, new Uint8Array(512))])
    assert.equal(h.core.node('a')?.meta.length, 512)
  })

  test('an alive message about a new node without a full 6-byte Vsn is dropped and counted', () => {
    const h = harness()
    for (const vsn of [new Uint8Array(0), Uint8Array.of(1, 5), Uint8Array.of(1, 5, 2, 0, 0)]) {
      const before = h.core.metrics.malformedDropped
      h.core.handlePacket(FROM, [{ ...alive('a', 5, 1), vsn }])
      assert.equal(h.core.node('a'), undefined, `Vsn of ${vsn.length} bytes`)
      assert.equal(h.core.metrics.malformedDropped, before + 1)
    }
    h.core.handlePacket(FROM, [alive('a', 5, 1)])
    h.core.handlePacket(FROM, [{ ...alive('a', 6, 1), vsn: Uint8Array.of(1, 5) }])
    assert.equal(h.core.node('a')?.incarnation, 6, 'a known node keeps its Vsn and takes the news')
    assert.deepEqual(h.core.node('a')?.vsn, [1, 5, 2, 0, 0, 0])
  })
})
