// Goal: node metadata round-trips within memberlist's 512-byte limit, and anything that is not
// Gossamer metadata (a Go memberlist node's, random bytes) decodes to undefined, never throws.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodeNodeMeta, encodeNodeMeta, NODE_META_MAX_BYTES } from '../../src/cluster/node-meta.ts'

const meta = {
  httpUrl: 'http://127.0.0.1:8080',
  rpcAddress: '127.0.0.1:7947',
  rpcProtocolVersion: 1,
  partitionCount: 4096,
}

test('node meta round-trips and fits in 512 bytes', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 200 }),
      fc.string({ maxLength: 60 }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.nat(),
      (httpUrl, rpcAddress, rpcProtocolVersion, partitionCount) => {
        const input = { httpUrl, rpcAddress, rpcProtocolVersion, partitionCount }
        const bytes = encodeNodeMeta(input)
        assert.ok(bytes.length <= NODE_META_MAX_BYTES)
        assert.deepEqual(decodeNodeMeta(bytes), { role: 'gossamer', ...input })
      },
    ),
  )
})

test('foreign metadata and non-Gossamer roles decode to undefined', () => {
  assert.equal(decodeNodeMeta(new Uint8Array(0)), undefined)
  assert.equal(decodeNodeMeta(new TextEncoder().encode('{"dc":"eu-west"}')), undefined)
  const other = encodeNodeMeta(meta)
  other[12] = 0x47 // 'gossamer' → 'Gossamer': a different role
  assert.equal(decodeNodeMeta(other), undefined)
  assert.throws(() => encodeNodeMeta({ ...meta, httpUrl: 'x'.repeat(300) }), RangeError)
})

test('a later meta format with appended fields still decodes', () => {
  const bytes = encodeNodeMeta(meta)
  const future = new Uint8Array([...bytes, 1, 2, 3])
  future[4] = 2
  assert.deepEqual(decodeNodeMeta(future), { role: 'gossamer', ...meta })
  future[4] = 1
  assert.equal(decodeNodeMeta(future), undefined)
})

test('random and mutated metadata never throws', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      (noise, at, value) => {
        decodeNodeMeta(noise)
        const bytes = encodeNodeMeta(meta)
        bytes[at % bytes.length] = value
        const decoded = decodeNodeMeta(bytes)
        if (decoded !== undefined) assert.equal(decoded.role, 'gossamer')
      },
    ),
    { numRuns: 500 },
  )
})
