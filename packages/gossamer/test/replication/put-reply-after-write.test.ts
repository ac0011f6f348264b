// Goal: the reply a replica sends once a put is durable reports what the engine decided at
// commit, not what `handlePut` planned before it. A write that raced in between can make the
// planned `applied` a `condition_failed` (nothing written) or a `stale` (something newer kept).
// A `stale` reply must carry the version that beat it: the coordinator's driver drops a stale
// ack whose newer version is beyond the clock-skew bound (that replica keeps a future record,
// not the write), and without the version it would count the ack (multi-process clock-skew
// test: a quorum read then missed an acknowledged write).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { PutReplyMessage } from '../../src/replication/messages.ts'
import { putReplyAfterWrite } from '../../src/replication/replica.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const planned: PutReplyMessage = { type: 'put-reply', requestId: 9, status: 'applied' }
const future: StoredRecord = {
  version: { wallMs: 1_700_000_600_000, logical: 0, nodeId: 'skewed' },
  value: new TextEncoder().encode('from the future'),
}

describe('putReplyAfterWrite', () => {
  it('keeps `applied` when the engine applied the write', () => {
    assert.deepEqual(
      putReplyAfterWrite(planned, { status: 'applied', previous: undefined }),
      planned,
    )
  })

  it('reports `stale` with the newer version when the engine kept a record that raced in', () => {
    assert.deepEqual(putReplyAfterWrite(planned, { status: 'stale', current: future }), {
      type: 'put-reply',
      requestId: 9,
      status: 'stale',
      current: future.version,
    })
  })

  it('reports `condition_failed` with the live version when the condition failed at commit', () => {
    assert.deepEqual(putReplyAfterWrite(planned, { status: 'condition_failed', current: future }), {
      type: 'put-reply',
      requestId: 9,
      status: 'condition_failed',
      current: future.version,
    })
  })

  it('leaves a planned non-`applied` reply alone', () => {
    const refused: PutReplyMessage = { type: 'put-reply', requestId: 9, status: 'refused' }
    assert.equal(putReplyAfterWrite(refused, { status: 'stale', current: future }), refused)
    assert.equal(putReplyAfterWrite(undefined, { status: 'stale', current: future }), undefined)
  })
})
