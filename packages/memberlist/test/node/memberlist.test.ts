/**
 * The public Memberlist on real loopback sockets, in one process: create, join, events, user
 * messages, push/pull state, metadata updates, leave, keyring and errors. Real time is
 * involved, so every wait has a deadline.
 */

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { afterEach, describe, test } from 'node:test'
import { type Delegates, type Member, Memberlist, MemberlistError } from '../../src/index.ts'

const running: Memberlist[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.shutdown()))
})

async function create(name: string, delegates: Delegates = {}, key?: Uint8Array) {
  const list = await Memberlist.create(
    {
      name,
      bindAddr: '127.0.0.1',
      bindPort: 0,
      preset: 'local',
      ...(key === undefined ? {} : { secretKey: key }),
    },
    delegates,
  )
  running.push(list)
  return list
}

/** Resolves when `predicate` holds, polling every 20 ms, or rejects after `timeoutMs`. */
async function eventually(predicate: () => boolean, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref(),
    ),
  ])
}

describe('Memberlist on loopback sockets', () => {
  test('two nodes join, exchange push/pull state, and both list each other as alive', async () => {
    const seenByA: Uint8Array[] = []
    const a = await create('a', {
      localState: () => Buffer.from('state-a'),
      mergeRemoteState: (s) => void seenByA.push(s),
    })
    const b = await create('b', { localState: () => Buffer.from('state-b') })
    const joined = once(a, 'join')
    assert.equal(await b.join([a.localNode.address]), 1)
    const names = (list: Memberlist) =>
      list
        .members()
        .map((m) => m.name)
        .sort()
    await eventually(() => names(a).length === 2 && names(b).length === 2, 5_000, 'membership')
    assert.deepEqual(names(a), ['a', 'b'])
    const [first] = (await withTimeout(joined, 1_000)) as [Member]
    assert.ok(first.name === 'a' || first.name === 'b')
    assert.equal(Buffer.from(seenByA[0] ?? []).toString(), 'state-b')
    assert.equal(a.localNode.state, 'alive')
    assert.ok(a.metrics.pushPulls >= 1)
  })

  test('user messages arrive over TCP and UDP', async () => {
    const received: string[] = []
    const a = await create('a', { notifyMsg: (m) => void received.push(Buffer.from(m).toString()) })
    const b = await create('b')
    await b.join([a.localNode.address])
    await eventually(() => b.numMembers() === 2, 5_000, 'b to see a')
    b.sendReliable('a', Buffer.from('over tcp'))
    b.sendBestEffort('a', Buffer.from('over udp'))
    await eventually(() => received.length === 2, 5_000, 'both messages')
    assert.deepEqual(received.sort(), ['over tcp', 'over udp'])
    assert.throws(
      () => b.sendReliable('nobody', Buffer.from('x')),
      (e: unknown) => e instanceof MemberlistError && e.code === 'MEMBERLIST_ERR_NO_SUCH_MEMBER',
    )
  })

  test('a metadata update is seen as an update event and a leave as left', async () => {
    let meta = Buffer.from('v1')
    const a = await create('a')
    const b = await create('b', { nodeMeta: () => meta })
    await b.join([a.localNode.address])
    await eventually(() => a.numMembers() === 2, 5_000, 'a to see b')
    const updated = once(a, 'update')
    meta = Buffer.from('v2')
    await b.updateNode(2_000)
    const [member] = (await withTimeout(updated, 3_000)) as [Member]
    assert.equal(Buffer.from(member.meta).toString(), 'v2')
    const left = once(a, 'leave')
    await b.leave(2_000)
    const [gone] = (await withTimeout(left, 3_000)) as [Member]
    assert.equal(gone.name, 'b')
    assert.equal(gone.state, 'left')
  })

  test('nodes with different keys cannot join; the keyring can be rotated', async () => {
    const a = await create('a', {}, Buffer.alloc(16, 1))
    const b = await create('b', {}, Buffer.alloc(16, 2))
    await assert.rejects(
      b.join([a.localNode.address]),
      (e: unknown) => e instanceof MemberlistError && e.code === 'MEMBERLIST_ERR_JOIN_FAILED',
    )
    assert.equal(a.numMembers(), 1)
    assert.ok(b.keyring.install(Buffer.alloc(16, 1)).ok)
    assert.ok(b.keyring.use(Buffer.alloc(16, 1)).ok)
    assert.equal(await b.join([a.localNode.address]), 1)
    assert.equal(b.keyring.list().length, 2)
  })

  test('joining an address where nobody listens fails with a stable code', async () => {
    const a = await create('a')
    await assert.rejects(
      a.join(['127.0.0.1:1']),
      (e: unknown) => e instanceof MemberlistError && e.code === 'MEMBERLIST_ERR_JOIN_FAILED',
    )
    await a.shutdown()
    await assert.rejects(a.join(['127.0.0.1:2']), /shut down/)
  })
})
