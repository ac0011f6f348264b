// Goal: node-to-node RPC connections originate from the node's --bind address when it is a
// specific one, so packet filters can tell nodes on one machine apart (the reliability suite
// gives each node its own 127.0.0.N) without any test-only shim.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { describe, test } from 'node:test'
import { RpcPeerTransport, sourceAddressFor } from '../../src/cluster/runtime/rpc-transport.ts'

describe('cluster runtime: source address of RPC connections', () => {
  test('the bind address is the source unless it is a wildcard, of another family, a host name, or loopback towards another machine', () => {
    assert.equal(sourceAddressFor('127.0.0.12', '127.0.0.11'), '127.0.0.12')
    assert.equal(sourceAddressFor('10.0.0.2', '10.0.0.1'), '10.0.0.2')
    assert.equal(sourceAddressFor(undefined, '127.0.0.1'), undefined)
    assert.equal(sourceAddressFor('0.0.0.0', '127.0.0.1'), undefined)
    assert.equal(sourceAddressFor('::', '::1'), undefined)
    assert.equal(sourceAddressFor('127.0.0.1', '::1'), undefined)
    assert.equal(sourceAddressFor('127.0.0.1', 'node-2.internal'), undefined)
    assert.equal(sourceAddressFor('127.0.0.1', '10.0.0.1'), undefined)
  })

  test('a transport bound to 127.0.0.2 connects to its peers from 127.0.0.2', async () => {
    const seen: string[] = []
    const server = createServer((socket: Socket) => {
      seen.push(socket.remoteAddress ?? '')
      socket.destroy()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const transport = new RpcPeerTransport({
      self: 'a',
      addressOf: () => `127.0.0.1:${port}`,
      callTimeoutMs: 500,
      bindAddress: '127.0.0.2',
    })
    try {
      await assert.rejects(transport.request('b', { type: 'get', requestId: 1, key: 'k' }))
      assert.ok(seen.length > 0, 'the call reached the listener')
      assert.ok(
        seen.every((address) => address === '127.0.0.2'),
        `sources: ${seen.join(', ')}`,
      )
    } finally {
      await transport.close()
      server.close()
    }
  })
})
