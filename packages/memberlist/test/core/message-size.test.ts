// Goal: the default sizer agrees byte-for-byte with the lengths of Go's encodings (appendix A.1).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { estimateMessageBytes } from '../../src/core/message-size.ts'

const hexLength = (hex: string): number => hex.length / 2

test('sizes match the Go test vectors', () => {
  const ip = Uint8Array.of(127, 0, 0, 1)
  const vsn = Uint8Array.of(1, 5, 2, 0, 0, 0)
  const alive = {
    type: 'alive' as const,
    addr: ip,
    incarnation: 1,
    node: 'node-a',
    port: 7946,
    vsn,
  }
  assert.equal(
    estimateMessageBytes(alive),
    hexLength(
      '0486a441646472a47f000001ab496e6361726e6174696f6e01a44d657461c0a44e6f6465a66e6f64652d61a4506f7274cd1f0aa356736ea6010502000000',
    ),
  )
  const ping = {
    type: 'ping' as const,
    node: 'node-b',
    seqNo: 7,
    sourceAddr: ip,
    sourceNode: 'node-a',
    sourcePort: 7946,
  }
  assert.equal(
    estimateMessageBytes(ping),
    hexLength(
      '0085a44e6f6465a66e6f64652d62a55365714e6f07aa536f7572636541646472a47f000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd1f0a',
    ),
  )
  const suspect = { type: 'suspect' as const, from: 'node-a', incarnation: 3, node: 'node-b' }
  assert.equal(
    estimateMessageBytes(suspect),
    hexLength('0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e03a44e6f6465a66e6f64652d62'),
  )
  assert.equal(
    estimateMessageBytes({ type: 'nackResp', seqNo: 70000 }),
    hexLength('0b81a55365714e6fce00011170'),
  )
  assert.equal(
    estimateMessageBytes({ type: 'ackResp', seqNo: 7, payload: undefined }),
    hexLength('0282a75061796c6f6164c0a55365714e6f07'),
  )
})
