// Goal: the probe round of reference §6.2 — direct ping, indirect pings with nacks after
// ProbeTimeout, TCP fallback, suspicion at the deadline, awareness updates — and the ping and
// indirect-ping responders.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CoreOutput } from '../../src/core/ports.ts'
import type { PacketMessage } from '../../src/wire/messages.ts'
import { alive, FROM, harness } from './helpers.ts'

function packets(outputs: CoreOutput[]): PacketMessage[][] {
  return outputs.flatMap((o) => (o.kind === 'packet' ? [o.messages.slice()] : []))
}

test('an unanswered probe asks relays for nacks, tries TCP, then suspects the target', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1), alive('b', 1, 2)])
  h.drain()
  // Run until a probe of 'a' has been sent.
  let pingSeq: number | undefined
  let startedMs = 0
  for (let i = 0; i < 2_000 && pingSeq === undefined; i++) {
    h.advance(1)
    for (const msgs of packets(h.drain())) {
      const ping = msgs[0]
      if (ping?.type === 'ping' && ping.node === 'a') {
        pingSeq = ping.seqNo
        startedMs = h.clock.nowMs
      }
    }
  }
  assert.notEqual(pingSeq, undefined)
  h.advance(500)
  const out = h.drain()
  const indirect = packets(out)
    .flat()
    .find((m) => m.type === 'indirectPing')
  assert.equal(indirect?.type === 'indirectPing' && indirect.nack, true)
  assert.equal(indirect?.type === 'indirectPing' && indirect.node, 'a')
  const stream = out.find((o) => o.kind === 'stream')
  assert.equal(stream?.kind === 'stream' && stream.message.type, 'ping')
  if (stream?.kind === 'stream')
    h.core.onStreamResult(stream.requestId, { ok: false, error: 'refused' })
  h.advance(startedMs + 999 - h.clock.nowMs)
  assert.equal(h.core.node('a')?.state, 'alive')
  h.advance(1)
  assert.equal(h.core.node('a')?.state, 'suspect')
  assert.equal(h.core.metrics.probeFailures, 1)
  assert.equal(h.core.healthScore(), 1, 'one expected nack was missing')
})

test('a nack from the relay spares our health score when the probe fails', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1), alive('b', 1, 2)])
  h.responsive.add('b')
  for (let i = 0; i < 40 && h.core.node('a')?.state === 'alive'; i++) {
    h.advance(50)
    for (const msgs of packets(h.drain())) {
      for (const m of msgs) {
        if (m.type === 'indirectPing')
          h.core.handlePacket(FROM, [{ type: 'nackResp', seqNo: m.seqNo }])
      }
    }
  }
  assert.equal(h.core.node('a')?.state, 'suspect')
  assert.equal(h.core.metrics.nacksReceived, 1)
  assert.equal(h.core.healthScore(), 0)
})

test('a TCP-only answer counts as success and does not suspect', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1)])
  for (let i = 0; i < 40; i++) {
    h.advance(50)
    for (const o of h.drain()) {
      if (o.kind === 'stream' && o.message.type === 'ping') {
        h.core.onStreamResult(o.requestId, {
          ok: true,
          reply: { type: 'ackResp', seqNo: o.message.seqNo },
        })
      }
    }
  }
  assert.equal(h.core.node('a')?.state, 'alive')
  assert.ok(h.core.metrics.probes >= 1)
  assert.equal(h.core.metrics.probeFailures, 0)
})

test('a ping for us is acked to its Source address; a ping for another name is ignored', () => {
  const h = harness()
  h.drain()
  const source = Uint8Array.of(10, 0, 0, 7)
  h.core.handlePacket(FROM, [
    {
      type: 'ping',
      node: 'self',
      seqNo: 42,
      sourceAddr: source,
      sourcePort: 9000,
      sourceNode: 'z',
    },
    { type: 'ping', node: 'other', seqNo: 43 },
  ])
  const out = h.drain().filter((o) => o.kind === 'packet')
  assert.equal(out.length, 1)
  const packet = out[0]!
  assert.ok(packet.kind === 'packet')
  assert.equal(packet.to.port, 9000)
  assert.deepEqual(packet.messages[0], { type: 'ackResp', seqNo: 42, payload: undefined })
})

test('a relay pings the target and forwards its ack, or sends a nack after ProbeTimeout', () => {
  const h = harness()
  h.drain()
  const target = Uint8Array.of(10, 0, 0, 5)
  const request = {
    type: 'indirectPing' as const,
    seqNo: 9,
    target,
    port: 7946,
    node: 't',
    nack: true,
  }
  h.core.handlePacket(FROM, [request])
  const ping = packets(h.drain())[0]?.[0]
  assert.equal(ping?.type, 'ping')
  if (ping?.type !== 'ping') return
  h.core.handlePacket(FROM, [{ type: 'ackResp', seqNo: ping.seqNo }])
  assert.deepEqual(packets(h.drain())[0]?.[0], { type: 'ackResp', seqNo: 9, payload: undefined })
  h.core.handlePacket(FROM, [{ ...request, seqNo: 10 }])
  h.drain()
  h.advance(500)
  const nack = packets(h.drain())
    .flat()
    .find((m) => m.type === 'nackResp')
  assert.deepEqual(nack, { type: 'nackResp', seqNo: 10 })
})

// The interop crash-detection tests rely on this only probabilistically (a broadcast's small
// retransmit budget may miss a given peer), so it is pinned here: a node that suspects a peer
// gossips that suspicion with itself as the accuser, which is what other nodes count as a
// Lifeguard confirmation (reference §6.3; docs/interop.md).
test('a node gossips its own suspicion, with itself as the accuser (a confirmation for others)', () => {
  const h = harness({ name: 'self' })
  h.core.handlePacket(FROM, [alive('a', 1, 1), alive('b', 1, 2)])
  h.drain()
  let suspect: PacketMessage | undefined
  for (let i = 0; i < 20_000 && suspect === undefined; i++) {
    h.advance(1)
    for (const out of h.drain()) {
      // Gossip to another node ('b', 10.0.0.2), not the accusation sent to 'a' with a ping.
      if (out.kind !== 'packet' || out.to.ip[3] !== 2) continue
      suspect ??= out.messages.find((m) => m.type === 'suspect' && m.node === 'a')
    }
  }
  assert.equal(h.core.node('a')?.state, 'suspect')
  assert.ok(suspect, 'a suspect message about a was gossiped')
  assert.equal(suspect.type === 'suspect' && suspect.from, 'self')
  assert.equal(suspect.type === 'suspect' && suspect.incarnation, 1)
})
