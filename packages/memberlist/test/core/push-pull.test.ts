// Goal: push/pull merge rules of reference §5 and the join / leave / stream commands.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { PushNodeState } from '../../src/wire/messages.ts'
import { FROM, harness, VSN } from './helpers.ts'

function entry(
  name: string,
  state: PushNodeState['state'],
  octet: number,
  incarnation = 1,
): PushNodeState {
  return { name, addr: Uint8Array.of(10, 0, 0, octet), port: 7946, incarnation, state, vsn: VSN }
}

test('a push/pull is answered with our state, then merged: remote dead becomes local suspect', () => {
  const merged: Uint8Array[] = []
  const h = harness({
    delegates: {
      localState: () => Uint8Array.of(1, 2),
      mergeRemoteState: (state) => merged.push(state),
    },
  })
  const reply = h.core.handleStream(FROM, {
    type: 'pushPull',
    join: true,
    nodes: [entry('a', 'alive', 1), entry('b', 'dead', 2), entry('c', 'left', 3)],
    userState: Uint8Array.of(9),
  })
  assert.equal(reply?.type, 'pushPull')
  if (reply?.type !== 'pushPull') return
  assert.equal(reply.join, true)
  assert.deepEqual(
    reply.nodes.map((n) => n.name),
    ['self'],
  )
  assert.deepEqual(reply.userState, Uint8Array.of(1, 2))
  assert.equal(h.core.node('a')?.state, 'alive')
  // b was unknown, so a remote "dead" about it is ignored rather than copied.
  assert.equal(h.core.node('b'), undefined)
  assert.deepEqual(merged, [Uint8Array.of(9)])
  h.core.handleStream(FROM, {
    type: 'pushPull',
    join: false,
    nodes: [entry('a', 'dead', 1)],
    userState: new Uint8Array(0),
  })
  assert.equal(h.core.node('a')?.state, 'suspect')
})

test('a join completes with the number of successful push/pulls', () => {
  const h = harness()
  h.drain()
  const joinId = h.core.join([
    { ip: Uint8Array.of(10, 0, 0, 1), port: 7946 },
    { ip: Uint8Array.of(10, 0, 0, 2), port: 7946 },
  ])
  const streams = h.drain().filter((o) => o.kind === 'stream')
  assert.equal(streams.length, 2)
  const [first, second] = streams
  assert.ok(first?.kind === 'stream' && second?.kind === 'stream')
  assert.equal(first.message.type === 'pushPull' && first.message.join, true)
  h.core.onStreamResult(first.requestId, {
    ok: true,
    reply: {
      type: 'pushPull',
      join: true,
      nodes: [entry('a', 'alive', 1)],
      userState: new Uint8Array(0),
    },
  })
  h.core.onStreamResult(second.requestId, { ok: false, error: 'connection refused' })
  const done = h.drain().find((o) => o.kind === 'joinComplete')
  assert.deepEqual(done, {
    kind: 'joinComplete',
    joinId,
    successCount: 1,
    errors: ['connection refused'],
  })
  assert.equal(h.core.numMembers(), 2)
})

test('a push/pull with incompatible protocol versions is refused', () => {
  const h = harness()
  h.drain()
  h.core.join([{ ip: Uint8Array.of(10, 0, 0, 1), port: 7946 }])
  const stream = h.drain().find((o) => o.kind === 'stream')
  assert.ok(stream?.kind === 'stream')
  const bad = { ...entry('a', 'alive', 1), vsn: Uint8Array.of(3, 5, 3, 0, 0, 0) }
  h.core.onStreamResult(stream.requestId, {
    ok: true,
    reply: { type: 'pushPull', join: true, nodes: [bad], userState: new Uint8Array(0) },
  })
  const done = h.drain().find((o) => o.kind === 'joinComplete')
  assert.equal(done?.kind === 'joinComplete' && done.successCount, 0)
  assert.equal(h.core.node('a'), undefined)
})

test('leaving alone completes at once and marks ourselves left', () => {
  const h = harness()
  h.drain()
  h.core.leave(1_000)
  assert.equal(h.core.localNode().state, 'left')
  assert.deepEqual(
    h.drain().find((o) => o.kind === 'leaveComplete'),
    { kind: 'leaveComplete', timedOut: false },
  )
})

test('updateNode re-advertises with a higher incarnation and fresh meta; oversized meta throws', () => {
  let meta = Uint8Array.of(1)
  const h = harness({ delegates: { nodeMeta: () => meta } })
  meta = Uint8Array.of(2, 3)
  h.core.updateNode(1_000)
  assert.equal(h.core.localNode().incarnation, 2)
  assert.deepEqual(h.core.localNode().meta, Uint8Array.of(2, 3))
  meta = new Uint8Array(513)
  assert.throws(() => h.core.updateNode(1_000), /512/)
})

test('a reliable user message on a stream reaches the delegate and gets no reply', () => {
  const got: Uint8Array[] = []
  const h = harness({ delegates: { notifyMsg: (m) => got.push(m) } })
  assert.equal(h.core.handleStream(FROM, { type: 'user', payload: Uint8Array.of(5) }), undefined)
  h.core.handlePacket(FROM, [{ type: 'user', payload: Uint8Array.of(6) }])
  assert.deepEqual(got, [Uint8Array.of(5), Uint8Array.of(6)])
})
