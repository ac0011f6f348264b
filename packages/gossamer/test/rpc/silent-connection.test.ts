// Goal: a connection that went silent is dropped and a fresh one dialled (client.ts, docs/rpc.md
// "Silent connections"), so calls work again about one call timeout after the network comes
// back, instead of waiting for whatever keeps the old connection stuck (after a partition: TCP's
// backed-off retransmission timer, tens of seconds).
//
// Method: a TCP proxy in the test sits between client and server (127.0.0.1, port 0). While it
// "black-holes", every byte on every connection it holds, and on every connection accepted
// meanwhile, is discarded; those connections stay dead after it resumes (the stand-in for a
// connection whose retransmission timer has backed off: nothing flows on it for a long time),
// and only connections accepted after the resume forward. A control client with the reset
// turned off (`resetAfterSilenceMs: 0`) stays stuck behind the same proxy, which shows the proxy
// models the problem and that the first test fails without the reset. Real-time waits are
// bounded by call timeouts and loop counts.
import assert from 'node:assert/strict'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { after, test } from 'node:test'
import {
  RpcPeerTransport,
  replicationServerHandlers,
} from '../../src/cluster/runtime/rpc-transport.ts'
import { RpcClient, RpcError, RpcServer } from '../../src/rpc/transport.ts'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const CALL_TIMEOUT_MS = 300

/** A forwarding proxy that can black-hole its traffic (see the file comment). */
class BlackHoleProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #dead = new WeakSet<Socket>()
  #isBlackHoling = false
  accepted = 0

  constructor(upstreamPort: number) {
    this.#server = createServer((client) => {
      this.accepted++
      this.#track(client)
      client.on('error', () => {})
      if (this.#isBlackHoling) {
        this.#dead.add(client)
        client.on('data', () => {}) // read and discard
        return
      }
      const upstream = netConnect({ host: '127.0.0.1', port: upstreamPort })
      this.#track(upstream)
      upstream.on('error', () => {})
      client.on('data', (chunk) => {
        if (!this.#dead.has(client)) upstream.write(chunk)
      })
      upstream.on('data', (chunk) => {
        if (!this.#dead.has(client)) client.write(chunk)
      })
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    const address = this.#server.address()
    assert.ok(address !== null && typeof address === 'object')
    return address.port
  }

  /** From now on nothing passes; connections held now stay dead for good. */
  blackHole(): void {
    this.#isBlackHoling = true
    for (const socket of this.#sockets) this.#dead.add(socket)
  }

  /** New connections forward again (the dead ones stay dead). */
  resume(): void {
    this.#isBlackHoling = false
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#dead = new WeakSet()
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
  }
}

async function setup(clientExtra: Partial<ConstructorParameters<typeof RpcClient>[0]> = {}) {
  const server = new RpcServer({ handlers: { ping: () => ({}) } })
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  const proxy = new BlackHoleProxy(port)
  const proxyPort = await proxy.listen()
  cleanups.push(() => proxy.close())
  const rpc = new RpcClient({
    host: '127.0.0.1',
    port: proxyPort,
    callTimeoutMs: CALL_TIMEOUT_MS,
    reconnectDelayMsMin: 10,
    ...clientExtra,
  })
  cleanups.push(() => rpc.close())
  return { server, proxy, rpc }
}

function codeOf(error: unknown): string {
  return error instanceof RpcError ? error.code : String(error)
}

/** Calls ping until one succeeds (at most `tries`); returns how long that took, or undefined. */
async function untilPingSucceeds(rpc: RpcClient, tries: number): Promise<number | undefined> {
  const start = performance.now()
  for (let i = 0; i < tries; i++) {
    try {
      await rpc.call('ping', {})
      return performance.now() - start
    } catch (error) {
      assert.ok(
        ['GOSSAMER_ERR_RPC_TIMEOUT', 'GOSSAMER_ERR_RPC_CONNECTION_LOST'].includes(codeOf(error)),
        `unexpected failure ${codeOf(error)}`,
      )
    }
  }
  return undefined
}

/**
 * Black-holes, lets `calls` calls fail in a row, then one call with a timeout too short to
 * count as silence (so the client holds a connection, dead, at the resume), and resumes.
 */
async function partition(proxy: BlackHoleProxy, rpc: RpcClient, calls: number): Promise<void> {
  proxy.blackHole()
  const failed = (error: unknown) =>
    ['GOSSAMER_ERR_RPC_TIMEOUT', 'GOSSAMER_ERR_RPC_CONNECTION_LOST'].includes(codeOf(error))
  for (let i = 0; i < calls; i++) await assert.rejects(rpc.call('ping', {}), failed)
  await assert.rejects(rpc.call('ping', {}, { timeoutMs: 50 }), failed)
  assert.equal(rpc.connected, true)
  proxy.resume()
}

test('a silent connection is dropped: calls succeed about one call timeout after the network comes back', async (t) => {
  const { proxy, rpc } = await setup()
  await rpc.call('ping', {})
  assert.equal(rpc.metrics().connectionsOpened, 1)
  await partition(proxy, rpc, 4)
  // During the black hole the silent connection was dropped and fresh ones dialled (the proxy
  // accepts them, then swallows their bytes: they went silent too).
  assert.ok(rpc.metrics().silentResets >= 1, JSON.stringify(rpc.metrics()))
  const openedBefore = rpc.metrics().connectionsOpened
  const acceptedBefore = proxy.accepted
  // The connection in use at the resume is dead for good; one call times out on it, it is
  // dropped, and the next call gets a fresh connection.
  const tookMs = await untilPingSucceeds(rpc, 20)
  t.diagnostic(`first success ${tookMs?.toFixed(0)} ms after the resume`)
  assert.notEqual(tookMs, undefined, 'no call succeeded after the resume')
  assert.ok(tookMs! < 2 * CALL_TIMEOUT_MS + 300, `took ${tookMs} ms`)
  assert.ok(rpc.metrics().connectionsOpened > openedBefore)
  assert.ok(proxy.accepted > acceptedBefore)
  // And it stays usable.
  for (let i = 0; i < 5; i++) await rpc.call('ping', {})
})

test('control: with the reset off, the client stays stuck on the dead connection', async () => {
  const { proxy, rpc } = await setup({ resetAfterSilenceMs: 0 })
  await rpc.call('ping', {})
  await partition(proxy, rpc, 2)
  // 8 call timeouts (2.4 s) after the resume it still has not recovered.
  assert.equal(await untilPingSucceeds(rpc, 8), undefined)
  assert.equal(rpc.metrics().silentResets, 0)
  assert.equal(rpc.metrics().connectionsOpened, 1)
})

test('the calls still pending on a dropped connection fail at once with CONNECTION_LOST', async () => {
  const { proxy, rpc } = await setup()
  await rpc.call('ping', {})
  proxy.blackHole()
  const start = performance.now()
  const long = rpc.call('ping', {}, { timeoutMs: 10_000 }).then(
    () => 'ok',
    (error: unknown) => codeOf(error),
  )
  const short = rpc.call('ping', {}).then(
    () => 'ok',
    (error: unknown) => codeOf(error),
  )
  assert.equal(await short, 'GOSSAMER_ERR_RPC_TIMEOUT')
  // The short call's timeout found the connection silent since the long call was sent: dropped,
  // and the long call (the coordinator counts it as a failed replica) fails with it.
  assert.equal(await long, 'GOSSAMER_ERR_RPC_CONNECTION_LOST')
  assert.ok(performance.now() - start < 2 * CALL_TIMEOUT_MS + 300)
  assert.equal(rpc.metrics().silentResets, 1)
  assert.equal(rpc.connected, false)
})

test('a slow call on a connection that keeps answering other calls does not drop it', async () => {
  const never = new Promise<never>(() => {})
  const server = new RpcServer({
    handlers: { ping: () => ({}), get: () => never },
  })
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  const rpc = new RpcClient({ host: '127.0.0.1', port, callTimeoutMs: CALL_TIMEOUT_MS })
  cleanups.push(() => rpc.close())
  await rpc.call('ping', {})
  const slow = rpc.call('get', { key: 'k' }, { timeoutMs: 3 * CALL_TIMEOUT_MS })
  // Replies keep arriving every 50 ms while the slow call is outstanding (bounded: 40 pings).
  let stop = false
  const pinging = (async () => {
    for (let i = 0; i < 40 && !stop; i++) {
      await rpc.call('ping', {})
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  await assert.rejects(slow, (error: unknown) => codeOf(error) === 'GOSSAMER_ERR_RPC_TIMEOUT')
  stop = true
  await pinging
  assert.equal(rpc.metrics().silentResets, 0)
  assert.equal(rpc.metrics().connectionsOpened, 1)
  assert.equal(server.metrics().connectionsAccepted, 1)
})

test('resetConnection() fails the sent calls and the next call dials a fresh connection at once', async () => {
  const never = new Promise<never>(() => {})
  const server = new RpcServer({ handlers: { ping: () => ({}), get: () => never } })
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  const rpc = new RpcClient({ host: '127.0.0.1', port, callTimeoutMs: 5_000 })
  cleanups.push(() => rpc.close())
  await rpc.call('ping', {})
  const pending = rpc.call('get', { key: 'k' })
  // Let it leave (bounded): it is sent once the coalesced write is flushed.
  await new Promise((resolve) => setImmediate(resolve))
  rpc.resetConnection()
  await assert.rejects(
    pending,
    (error: unknown) => codeOf(error) === 'GOSSAMER_ERR_RPC_CONNECTION_LOST',
  )
  await rpc.call('ping', {})
  assert.equal(rpc.metrics().connectionsOpened, 2)
  assert.equal(server.metrics().connectionsAccepted, 2)
})

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

test('unreachable: true after a failed dial or a lost connection, false after the client dropped a silent one', async () => {
  const refused = new RpcClient({ host: '127.0.0.1', port: await closedPort(), callTimeoutMs: 200 })
  cleanups.push(() => refused.close())
  await assert.rejects(refused.call('ping', {}))
  assert.equal(refused.unreachable, true)

  const { proxy, rpc } = await setup()
  assert.equal(rpc.unreachable, false)
  await rpc.call('ping', {})
  proxy.blackHole()
  await assert.rejects(rpc.call('ping', {}))
  assert.equal(rpc.metrics().silentResets, 1)
  assert.equal(rpc.connected, false)
  assert.equal(rpc.unreachable, false, 'a silent reset is no proof the peer is unreachable')
  proxy.resume()
  await rpc.call('ping', {})
  await proxy.close() // the peer side closes the connection
  for (let i = 0; i < 10_000 && rpc.connected; i++) await new Promise((r) => setImmediate(r))
  assert.equal(rpc.unreachable, true)
})

test('reconnect backoff grown during an outage does not delay the first dial after a quiet spell', async () => {
  const rpc = new RpcClient({
    host: '127.0.0.1',
    port: await closedPort(),
    callTimeoutMs: 400,
    reconnectDelayMsMin: 10,
    reconnectDelayMsMax: 100,
  })
  cleanups.push(() => rpc.close())
  // Refused dials during one call timeout (a call that waits for a connection rather than
  // failing at the first refused dial): backoff 10, 20, 40, 80, 100 ms...
  await assert.rejects(rpc.call('ping', {}, { waitForConnection: true }))
  assert.ok(rpc.metrics().connectFailures >= 4, JSON.stringify(rpc.metrics()))
  // A quiet spell (no calls) longer than the longest delay; a dial the backoff timer had
  // scheduled may still run in it.
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.ok(rpc.metrics().connectFailures >= 4)
  const before = rpc.metrics().connectAttempts
  // Without the reset, the failures so far would make this call wait for a backoff timer.
  const quiet = rpc.call('ping', {}, { timeoutMs: 50 }).catch(() => {})
  assert.equal(rpc.metrics().connectAttempts, before + 1, 'dialled at once')
  await quiet
})

test('peer transport: a silent connection does not mark the peer failing; resetPeer drops the connection and clears failing', async () => {
  const never = new Promise<never>(() => {})
  const server = new RpcServer({ handlers: replicationServerHandlers(() => never) })
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  const deadPort = await closedPort()
  const transport = new RpcPeerTransport({
    self: 'a',
    addressOf: (node) => `127.0.0.1:${node === 'b' ? port : deadPort}`,
    callTimeoutMs: 200,
  })
  cleanups.push(() => transport.close())
  const get = { type: 'get', requestId: 1, key: 'k' } as const
  // b answers nothing: the call times out on a silent connection, which is dropped; b is
  // still worth calling (the next request dials a fresh connection at once).
  await assert.rejects(transport.request('b', get), (e: unknown) => codeOf(e).endsWith('TIMEOUT'))
  assert.equal(transport.metrics().silentResets, 1)
  assert.equal(transport.isFailing('b'), false)
  // c refuses connections: it is skipped for a moment, until resetPeer says it is back.
  await assert.rejects(transport.request('c', get))
  assert.equal(transport.isFailing('c'), true)
  transport.resetPeer('c')
  assert.equal(transport.isFailing('c'), false)
  // resetPeer on a live connection fails what was sent on it and the next request redials.
  const pending = transport.request('b', get, { timeoutMs: 5_000 })
  await new Promise((resolve) => setTimeout(resolve, 20))
  transport.resetPeer('b')
  await assert.rejects(pending, (e: unknown) => codeOf(e) === 'GOSSAMER_ERR_RPC_CONNECTION_LOST')
  assert.equal(server.metrics().connectionsAccepted, 2)
})
