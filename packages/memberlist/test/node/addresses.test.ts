import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { bytesToIp, ipToBytes, splitHostPort } from '../../src/node/addresses.ts'

describe('node addresses', () => {
  test('IPv4 and IPv6 literals convert to the raw bytes the wire carries', () => {
    assert.deepEqual(ipToBytes('127.0.0.1'), Uint8Array.of(127, 0, 0, 1))
    assert.deepEqual(
      ipToBytes('::1'),
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    )
    assert.deepEqual(
      ipToBytes('::ffff:10.0.0.1'),
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1),
    )
    assert.equal(ipToBytes('example.com'), undefined)
  })

  test('any 4- or 16-byte address survives bytes → text → bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (ip) => {
          assert.deepEqual(ipToBytes(bytesToIp(ip)), ip)
        },
      ),
    )
  })

  test('join targets accept host, host:port, [v6]:port and name/host:port', () => {
    assert.deepEqual(splitHostPort('10.0.0.1', 7946), { host: '10.0.0.1', port: 7946 })
    assert.deepEqual(splitHostPort('10.0.0.1:1234', 7946), { host: '10.0.0.1', port: 1234 })
    assert.deepEqual(splitHostPort('[::1]:1234', 7946), { host: '::1', port: 1234 })
    assert.deepEqual(splitHostPort('::1', 7946), { host: '::1', port: 7946 })
    assert.deepEqual(splitHostPort('node-a/db.local:99', 7946), { host: 'db.local', port: 99 })
    assert.equal(splitHostPort('10.0.0.1:99999', 7946), undefined)
    assert.equal(splitHostPort('[::1', 7946), undefined)
    assert.equal(splitHostPort('', 7946), undefined)
  })
})
