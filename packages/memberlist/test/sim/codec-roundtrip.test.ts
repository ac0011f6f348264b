// Goal: run a simulated cluster with every packet and stream message round-tripped through the
// real wire codec (house style B5), catching codec bugs and accidental object sharing, and
// check that the core's default sizer agrees with the codec's encoded lengths.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { estimateMessageBytes } from '../../src/core/message-size.ts'
import { SimCluster, type SimCodec } from '../../src/sim/sim-cluster.ts'
import {
  decodePacketMessage,
  decodeStreamMessage,
  encodePacketMessage,
  encodeStreamMessage,
  type PacketMessage,
  type StreamMessage,
} from '../../src/wire/index.ts'

let sizeMismatches = 0
let messagesChecked = 0

const codec: SimCodec = {
  packet(messages: readonly PacketMessage[]): PacketMessage[] {
    return messages.map((m) => {
      const bytes = encodePacketMessage(m)
      messagesChecked++
      if (bytes.length !== estimateMessageBytes(m)) sizeMismatches++
      const decoded = decodePacketMessage(bytes)
      if (!decoded.ok) throw new Error(`codec failed on ${m.type}: ${decoded.detail}`)
      return decoded.message
    })
  },
  stream(message: StreamMessage): StreamMessage {
    const decoded = decodeStreamMessage(encodeStreamMessage(message))
    if (!decoded.ok) throw new Error(`codec failed on ${message.type}: ${decoded.detail}`)
    return decoded.message
  },
}

test('sim through the wire codec: 20 nodes converge, detect a crash and see a leave', () => {
  const sim = new SimCluster({ seed: 11, codec, isLogging: false })
  for (let i = 0; i < 20; i++) sim.addNode(`n${i}`)
  for (let i = 1; i < 20; i++) sim.join(`n${i}`, ['n0'])
  const all = (count: number, except: string[] = []): boolean =>
    sim.nodes().every((x) => except.includes(x.name) || x.core.numMembers() === count)
  assert.ok(
    sim.runUntil(() => all(20), 60_000),
    'converged (seed 11)',
  )
  sim.crash('n5')
  assert.ok(
    sim.runUntil(() => all(19, ['n5']), 120_000),
    'crash detected (seed 11)',
  )
  sim.leave('n6')
  assert.ok(
    sim.runUntil(() => all(18, ['n5', 'n6']), 30_000),
    'leave seen (seed 11)',
  )
  assert.ok(messagesChecked > 1000)
  assert.equal(sizeMismatches, 0, 'default sizer equals codec length')
})
