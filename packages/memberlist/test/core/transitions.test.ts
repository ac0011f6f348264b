// Goal: the alive / suspect / dead rules of reference §6.3, one rule per test, driving a single
// core by hand.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { alive, FROM, harness, VSN } from './helpers.ts'

test('a new core is alive at incarnation 1, advertises Vsn 1,5,2,0,0,0 and sees its own join', () => {
  const h = harness()
  const self = h.core.localNode()
  assert.equal(self.incarnation, 1)
  assert.equal(self.state, 'alive')
  assert.deepEqual(self.vsn, [1, 5, 2, 0, 0, 0])
  const events = h.drain().filter((o) => o.kind === 'event')
  assert.deepEqual(
    events.map((o) => o.kind === 'event' && o.event.type),
    ['join'],
  )
})

test('an alive message about an unknown node adds it and fires join; stale ones are ignored', () => {
  const h = harness()
  h.drain()
  h.core.handlePacket(FROM, [alive('a', 5, 1)])
  assert.equal(h.core.numMembers(), 2)
  const events = h.drain().filter((o) => o.kind === 'event')
  assert.equal(events.length, 1)
  h.core.handlePacket(FROM, [alive('a', 5, 1, Uint8Array.of(1))])
  assert.equal(h.core.node('a')?.meta.length, 0, 'equal incarnation is ignored')
  h.core.handlePacket(FROM, [alive('a', 6, 1, Uint8Array.of(1))])
  const update = h.drain().filter((o) => o.kind === 'event')
  assert.equal(update.length, 1)
  assert.equal(update[0]?.kind === 'event' && update[0].event.type, 'update')
})

test('an alive message with a different address is a conflict unless the node has left', () => {
  const conflicts: string[] = []
  const h = harness({ delegates: { notifyConflict: (e) => conflicts.push(e.name) } })
  h.core.handlePacket(FROM, [alive('a', 5, 1)])
  h.core.handlePacket(FROM, [alive('a', 6, 2)])
  assert.deepEqual(conflicts, ['a'])
  assert.equal(h.core.node('a')?.addr[3], 1)
  h.core.handlePacket(FROM, [{ type: 'dead', node: 'a', incarnation: 6, from: 'a' }])
  assert.equal(h.core.node('a')?.state, 'left')
  h.core.handlePacket(FROM, [alive('a', 1, 2)])
  assert.equal(h.core.node('a')?.state, 'alive', 'a left node may be taken over at once')
  assert.equal(h.core.node('a')?.addr[3], 2)
})

test('a suspicion about ourselves is refuted with a higher incarnation', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1)])
  h.core.handlePacket(FROM, [{ type: 'suspect', node: 'self', incarnation: 7, from: 'a' }])
  assert.equal(h.core.localNode().incarnation, 8)
  assert.equal(h.core.localNode().state, 'alive')
  assert.equal(h.core.metrics.refutations, 1)
  assert.equal(h.core.healthScore(), 1)
})

test('a death notice about ourselves is refuted unless we are leaving', () => {
  const h = harness()
  h.core.handlePacket(FROM, [{ type: 'dead', node: 'self', incarnation: 1, from: 'a' }])
  assert.equal(h.core.localNode().state, 'alive')
  assert.equal(h.core.localNode().incarnation, 2)
})

test('a suspect node without confirmations is declared dead after the min timeout (n <= 3)', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1), alive('b', 1, 2)])
  h.core.handlePacket(FROM, [{ type: 'suspect', node: 'a', incarnation: 1, from: 'b' }])
  assert.equal(h.core.node('a')?.state, 'suspect')
  assert.equal(h.core.metrics.suspicions, 1)
  // n = 3 ⇒ k = 0 ⇒ timeout = 4 × 1 s (LAN).
  h.drain()
  h.advance(3_999)
  assert.equal(h.core.node('a')?.state, 'suspect')
  h.core.handlePacket(FROM, [{ type: 'suspect', node: 'a', incarnation: 1, from: 'b' }])
  h.advance(2)
  assert.equal(h.core.node('a')?.state, 'dead')
  assert.equal(h.core.metrics.deaths, 1)
  const leaves = h.drain().filter((o) => o.kind === 'event' && o.event.type === 'leave')
  assert.equal(leaves.length, 1)
})

test('an alive message with a higher incarnation clears the suspicion', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1)])
  h.core.handlePacket(FROM, [{ type: 'suspect', node: 'a', incarnation: 1, from: 'x' }])
  h.core.handlePacket(FROM, [alive('a', 2, 1)])
  h.responsive.add('a')
  h.advance(60_000)
  assert.equal(h.core.node('a')?.state, 'alive')
})

test('a dead message from the node itself marks it left; older incarnations are ignored', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 3, 1)])
  h.core.handlePacket(FROM, [{ type: 'dead', node: 'a', incarnation: 2, from: 'a' }])
  assert.equal(h.core.node('a')?.state, 'alive')
  h.core.handlePacket(FROM, [{ type: 'dead', node: 'a', incarnation: 3, from: 'a' }])
  assert.equal(h.core.node('a')?.state, 'left')
  assert.equal(h.core.numMembers(), 1)
})

test('alive messages with an invalid Vsn are dropped and counted', () => {
  const h = harness()
  h.core.handlePacket(FROM, [{ ...alive('a', 1, 1), vsn: Uint8Array.of(0, 5, 2, 0, 0, 0) }])
  assert.equal(h.core.node('a'), undefined)
  assert.equal(h.core.metrics.malformedDropped, 1)
})

test('dead and left nodes are reaped after GossipToTheDeadTime when the probe list wraps', () => {
  const h = harness()
  h.core.handlePacket(FROM, [alive('a', 1, 1), alive('b', 1, 2)])
  h.core.handlePacket(FROM, [{ type: 'dead', node: 'a', incarnation: 1, from: 'a' }])
  h.advance(29_000)
  assert.equal(h.core.node('a')?.state, 'left')
  h.advance(5_000)
  assert.equal(h.core.node('a'), undefined)
  void VSN
})
