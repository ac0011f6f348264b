/**
 * Outgoing TCP streams originate from the node's bind address when it is a specific one, so
 * peers and packet filters can tell nodes apart on one machine (each node on its own 127.0.0.N).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { describe, test } from 'node:test'
import { Memberlist } from '../../src/index.ts'
import { sourceAddressFor } from '../../src/node/driver.ts'

describe('memberlist: source address of outgoing streams', () => {
  test('the bind address is the source unless it is a wildcard, of another family, or loopback towards another machine', () => {
    assert.equal(sourceAddressFor('127.0.0.12', '127.0.0.11'), '127.0.0.12')
    assert.equal(sourceAddressFor('10.0.0.2', '10.0.0.1'), '10.0.0.2')
    assert.equal(sourceAddressFor('0.0.0.0', '127.0.0.1'), undefined)
    assert.equal(sourceAddressFor('::', '::1'), undefined)
    assert.equal(sourceAddressFor('127.0.0.1', '::1'), undefined)
    assert.equal(sourceAddressFor('127.0.0.1', '10.0.0.1'), undefined)
  })

  test('a join from a node bound to 127.0.0.2 connects from 127.0.0.2', async () => {
    const seen: string[] = []
    const server = createServer((socket: Socket) => {
      seen.push(socket.remoteAddress ?? '')
      socket.destroy()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const list = await Memberlist.create({
      name: 'from-two',
      bindAddr: '127.0.0.2',
      bindPort: 0,
      preset: 'local',
    })
    try {
      await assert.rejects(list.join([`127.0.0.1:${port}`]))
      assert.ok(seen.length > 0, 'the join reached the listener')
      assert.ok(
        seen.every((address) => address === '127.0.0.2'),
        `sources: ${seen.join(', ')}`,
      )
    } finally {
      await list.shutdown()
      server.close()
    }
  })
})
