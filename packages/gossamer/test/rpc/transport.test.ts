// Goal: the TCP transport keeps its promises on real sockets (127.0.0.1, port 0): many calls
// share one connection and complete out of order; calls time out; a restarted server is
// reconnected to; a hostile peer's malformed frame is counted and the server keeps serving;
// the pending-call bound and the per-connection in-flight bound hold; close() fails pending calls;
// a call to a peer that cannot be connected to fails fast (GOSSAMER_ERR_RPC_UNAVAILABLE) unless
// it asked to wait for a connection.
// Real-time waits are bounded by call timeouts; no sleeps.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, test } from 'node:test'
import { RpcClient, RpcError, RpcServer } from '../../src/rpc/transport.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function startServer(server: RpcServer): Promise<number> {
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  return port
}

function client(
  port: number,
  extra: Partial<ConstructorParameters<typeof RpcClient>[0]> = {},
): RpcClient {
  const c = new RpcClient({
    host: '127.0.0.1',
    port,
    callTimeoutMs: 3000,
    reconnectDelayMsMin: 10,
    ...extra,
  })
  cleanups.push(() => c.close())
  return c
}

function recordOf(text: string): StoredRecord {
  return { version: { wallMs: 1, logical: 0, nodeId: 'n1' }, value: new TextEncoder().encode(text) }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(
    promise,
    (error: unknown) => error instanceof RpcError && error.code === code,
  )
}

test('many concurrent calls share one connection and complete out of order', async () => {
  const callCount = 200
  const waiting: Array<() => void> = []
  const allArrived = deferred<void>()
  const server = new RpcServer({
    maxInFlightPerConnection: callCount,
    handlers: {
      get: ({ key }) =>
        new Promise((resolve) => {
          waiting.push(() => resolve({ record: recordOf(key) }))
          if (waiting.length === callCount) allArrived.resolve()
        }),
    },
  })
  const rpc = client(await startServer(server))
  const calls = Array.from({ length: callCount }, (_, i) => rpc.call('get', { key: `k${i}` }))
  await allArrived.promise
  for (const release of waiting.reverse()) release() // answer in reverse order
  const replies = await Promise.all(calls)
  replies.forEach((reply, i) => {
    assert.deepEqual(reply.record?.value, new TextEncoder().encode(`k${i}`))
  })
  assert.equal(server.metrics().connectionsAccepted, 1)
  assert.equal(rpc.metrics().callsSucceeded, callCount)
})

test('a call with no reply fails with a timeout and a late reply is dropped and counted', async () => {
  const release = deferred<void>()
  const server = new RpcServer({
    handlers: { ping: () => release.promise.then(() => ({})) },
  })
  const rpc = client(await startServer(server))
  await rejectsWith(rpc.call('ping', {}, { timeoutMs: 50 }), 'GOSSAMER_ERR_RPC_TIMEOUT')
  release.resolve()
  // The late reply arrives before this next reply on the same ordered connection.
  await rpc.call('ping', {})
  assert.equal(rpc.metrics().timeouts, 1)
  assert.equal(rpc.metrics().lateResponses, 1)
})

test('the client reconnects to a restarted server on the same port', async () => {
  const handlers = { ping: () => ({}) }
  const first = new RpcServer({ handlers })
  const port = await startServer(first)
  const rpc = client(port)
  await rpc.call('ping', {})
  await first.close()
  // Let the client notice the close (bounded) so the next call waits for a new connection.
  for (let i = 0; i < 10_000 && rpc.connected; i++) await new Promise((r) => setImmediate(r))
  assert.equal(rpc.connected, false)
  // Queued while the server is down with waitForConnection: retried with backoff until the new
  // server answers (without it the call fails at the first refused dial; see the next tests).
  const pending = rpc.call('ping', {}, { timeoutMs: 5000, waitForConnection: true })
  const second = new RpcServer({ handlers, port })
  await startServer(second)
  await pending
  assert.ok(rpc.metrics().connectionsOpened >= 2)
  assert.equal(rpc.metrics().connectionsLost, 1)
})

/** A loopback port nothing listens on (a server bound to port 0, then closed). */
async function closedPort(): Promise<number> {
  const server = new RpcServer({ handlers: { ping: () => ({}) } })
  const { port } = await server.listen()
  await server.close()
  return port
}

test('a call to a peer that refuses connections fails with UNAVAILABLE, not after its timeout', async () => {
  const rpc = client(await closedPort(), { reconnectDelayMsMin: 1000, reconnectDelayMsMax: 1000 })
  // The timeout is far longer than the test's budget: only the failed dial can end the call.
  await rejectsWith(rpc.call('ping', {}, { timeoutMs: 60_000 }), 'GOSSAMER_ERR_RPC_UNAVAILABLE')
  assert.equal(rpc.unreachable, true)
  // Backing off after the failed dial: the next call fails at once, unsent.
  await rejectsWith(rpc.call('ping', {}, { timeoutMs: 60_000 }), 'GOSSAMER_ERR_RPC_UNAVAILABLE')
  const m = rpc.metrics()
  assert.equal(m.unavailable, 2)
  assert.equal(m.timeouts, 0)
  assert.equal(m.connectAttempts, 1, 'a call made during the backoff dials no sooner')
  assert.equal(rpc.pendingCount, 0)
})

test('every call waiting on a failed dial fails with UNAVAILABLE; one that waits for a connection stays', async () => {
  const rpc = client(await closedPort(), { reconnectDelayMsMin: 1000, reconnectDelayMsMax: 1000 })
  // All made before the first dial fails: they wait on that one dial.
  const calls = Array.from({ length: 100 }, () => rpc.call('ping', {}, { timeoutMs: 60_000 }))
  const patient = rpc.call('ping', {}, { timeoutMs: 300, waitForConnection: true })
  for (const call of calls) await rejectsWith(call, 'GOSSAMER_ERR_RPC_UNAVAILABLE')
  assert.equal(rpc.pendingCount, 1, 'the waiting call is still pending')
  assert.equal(rpc.metrics().connectAttempts, 1)
  await rejectsWith(patient, 'GOSSAMER_ERR_RPC_TIMEOUT')
  assert.equal(rpc.metrics().unavailable, 100)
})

test('after a failed dial the client dials again once the backoff is over, and calls succeed', async () => {
  const port = await closedPort()
  const rpc = client(port, { reconnectDelayMsMin: 20, reconnectDelayMsMax: 20 })
  await rejectsWith(rpc.call('ping', {}, { timeoutMs: 60_000 }), 'GOSSAMER_ERR_RPC_UNAVAILABLE')
  await startServer(new RpcServer({ handlers: { ping: () => ({}) }, port }))
  // Bounded: each attempt either fails at once (backoff, or the dial it scheduled failed) or
  // is answered; the reconnect timer dials again after 20 ms.
  let answered = false
  for (let i = 0; i < 200 && !answered; i++) {
    answered = await rpc.call('ping', {}, { timeoutMs: 5000 }).then(
      () => true,
      (error: unknown) => {
        assert.ok(error instanceof RpcError && error.code === 'GOSSAMER_ERR_RPC_UNAVAILABLE')
        return new Promise<boolean>((r) => setTimeout(() => r(false), 10))
      },
    )
  }
  assert.ok(answered, 'the client never reconnected')
  assert.ok(rpc.metrics().connectionsOpened >= 1)
})

test('a malformed frame from a hostile peer is counted, its connection closed, and the server survives', async () => {
  const server = new RpcServer({ handlers: { ping: () => ({}) }, maxFrameBytes: 1024 })
  const port = await startServer(server)
  for (const garbage of [
    new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), // oversized length
    new Uint8Array([0, 0, 0, 9, 7, 0, 0, 0, 0, 1, 0, 1, 0]), // unknown protocol version
  ]) {
    const hostile = connect({ host: '127.0.0.1', port })
    const closed = new Promise((resolve) => hostile.once('close', resolve))
    hostile.on('error', () => {})
    hostile.write(garbage)
    await closed
  }
  assert.equal(server.metrics().malformedFrames, 2)
  await client(port).call('ping', {})
})

test('unknown methods and undecodable payloads get error replies without closing the connection', async () => {
  const server = new RpcServer({ handlers: { ping: () => ({}) } })
  const rpc = client(await startServer(server))
  await assert.rejects(
    rpc.call('get', { key: 'x' }),
    (e: unknown) => e instanceof RpcError && e.remoteCode === 'unknownMethod',
  )
  const failing = new RpcServer({
    handlers: {
      ping: () => {
        throw new Error('boom')
      },
    },
  })
  const rpc2 = client(await startServer(failing))
  await assert.rejects(
    rpc2.call('ping', {}),
    (e: unknown) => e instanceof RpcError && e.remoteCode === 'handlerFailed',
  )
  await rpc.call('ping', {})
  assert.equal(server.metrics().connectionsAccepted, 1)
})

test('the pending-call bound rejects the next call at once, and close() rejects pending calls', async () => {
  const never = new Promise<never>(() => {})
  const server = new RpcServer({ handlers: { ping: () => never } })
  const rpc = client(await startServer(server), { maxPendingCalls: 4 })
  const calls = Array.from({ length: 4 }, () => rpc.call('ping', {}))
  await rejectsWith(rpc.call('ping', {}), 'GOSSAMER_ERR_RPC_QUEUE_FULL')
  assert.equal(rpc.pendingCount, 4)
  const rejected = Promise.all(calls.map((call) => rejectsWith(call, 'GOSSAMER_ERR_RPC_CLOSED')))
  await rpc.close()
  await rejected
  await rejectsWith(rpc.call('ping', {}), 'GOSSAMER_ERR_RPC_CLOSED')
})

test('a connection runs at most maxInFlightPerConnection handlers at once', async () => {
  let running = 0
  let maxRunning = 0
  const queue: Array<() => void> = []
  const server = new RpcServer({
    maxInFlightPerConnection: 3,
    handlers: {
      ping: () =>
        new Promise((resolve) => {
          running++
          maxRunning = Math.max(maxRunning, running)
          queue.push(() => {
            running--
            resolve({})
          })
          // Release earlier handlers one at a time so later ones get their turn.
          if (queue.length === 3) queue.shift()!()
        }),
    },
  })
  const rpc = client(await startServer(server))
  const calls = Array.from({ length: 20 }, () => rpc.call('ping', {}))
  // Drain what is left once everything has been admitted.
  const drained = (async () => {
    for (let i = 0; i < 200 && rpc.pendingCount > 0; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      while (queue.length > 0) queue.shift()!()
    }
  })()
  await Promise.all(calls)
  await drained
  assert.ok(maxRunning <= 3, `ran ${maxRunning} at once`)
  assert.ok(server.metrics().readPauses >= 1)
})
