// Goal: the replication helpers carry every exchange over real sockets (127.0.0.1, port 0):
// `callReplication` resolves with the reply message, one-way requests resolve once handled, the
// handler sees the sender's node name, and a handler that answers nothing (a core dropped the
// request) or the wrong reply type fails the call instead of sending a wrong answer.
// Real-time waits are bounded by call timeouts; no sleeps.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import type { ReplicationMessage } from '../../src/replication/messages.ts'
import {
  callReplication,
  type ReplicationReply,
  type ReplicationRequest,
  RpcClient,
  RpcError,
  RpcServer,
  replicationHandlers,
} from '../../src/rpc/transport.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const record: StoredRecord = {
  version: { wallMs: 5, logical: 1, nodeId: 'n1' },
  value: new TextEncoder().encode('v'),
}

/** A replica that answers every request the way the cores would, and logs what it saw. */
function fakeReplica(seen: Array<{ from: string; message: ReplicationMessage }>) {
  return (from: string, message: ReplicationRequest): ReplicationReply | undefined => {
    seen.push({ from, message })
    switch (message.type) {
      case 'put':
        return message.key === 'drop'
          ? undefined
          : { type: 'put-reply', requestId: message.requestId, status: 'refused' }
      case 'get':
        return message.key === 'wrong'
          ? { type: 'hint-ack', deliveryId: 1 }
          : { type: 'get-reply', requestId: message.requestId, record }
      case 'hint-deliver':
        return { type: 'hint-ack', deliveryId: message.deliveryId }
      case 'aae-hashes-request':
        return {
          type: 'aae-hashes',
          sessionId: message.sessionId,
          partition: message.partition,
          level: message.level,
          hashes: message.indexes.map((index) => ({ index, hash: '00000000deadbeef' })),
        }
      case 'aae-keys':
        return {
          type: 'aae-keys-reply',
          sessionId: message.sessionId,
          partition: message.partition,
          records: [{ key: 'k', record }],
          wanted: ['w'],
        }
      case 'handoff-request':
        return {
          type: 'handoff-batch',
          transferId: message.transferId,
          partition: message.partition,
          entries: [{ key: 'k', record }],
        }
      default:
        return undefined
    }
  }
}

async function start(): Promise<{
  client: RpcClient
  seen: Array<{ from: string; message: ReplicationMessage }>
}> {
  const seen: Array<{ from: string; message: ReplicationMessage }> = []
  const server = new RpcServer({ handlers: replicationHandlers(fakeReplica(seen)) })
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  const client = new RpcClient({ host: '127.0.0.1', port, callTimeoutMs: 3000 })
  cleanups.push(() => client.close())
  return { client, seen }
}

test('every replication exchange completes over a socket with its reply message', async () => {
  const { client, seen } = await start()
  const shape = { fanout: 16, depth: 2 }
  const putReply = await callReplication(client, 'node-a', {
    type: 'put',
    requestId: 2 ** 40,
    key: 'k',
    record,
    hintFor: 'node-c',
    condition: { kind: 'absent' },
  })
  assert.deepEqual(putReply, { type: 'put-reply', requestId: 2 ** 40, status: 'refused' })
  const getReply = await callReplication(client, 'node-a', { type: 'get', requestId: 3, key: 'k' })
  assert.deepEqual(getReply.record, record)
  const ack = await callReplication(client, 'node-a', {
    type: 'hint-deliver',
    deliveryId: 4,
    key: 'k',
    record,
  })
  assert.deepEqual(ack, { type: 'hint-ack', deliveryId: 4 })
  const hashes = await callReplication(client, 'node-a', {
    type: 'aae-hashes-request',
    sessionId: 5,
    partition: 7,
    shape,
    level: 1,
    indexes: [0, 3],
  })
  assert.deepEqual(
    hashes.hashes.map((h) => h.index),
    [0, 3],
  )
  const keys = await callReplication(client, 'node-a', {
    type: 'aae-keys',
    sessionId: 5,
    partition: 7,
    shape,
    buckets: [1],
    entries: [],
  })
  assert.deepEqual(keys.wanted, ['w'])
  const push = await callReplication(client, 'node-a', {
    type: 'aae-push',
    sessionId: 5,
    partition: 7,
    records: [],
  })
  assert.equal(push, undefined)
  const batch = await callReplication(client, 'node-a', {
    type: 'handoff-request',
    transferId: 6,
    partition: 7,
    limit: 100,
  })
  assert.equal(batch.cursor, undefined)
  assert.equal(batch.entries.length, 1)
  assert.equal(
    await callReplication(client, 'node-b', { type: 'handoff-done', partition: 7 }),
    undefined,
  )
  assert.deepEqual(
    seen.map((s) => `${s.from}:${s.message.type}`),
    [
      'node-a:put',
      'node-a:get',
      'node-a:hint-deliver',
      'node-a:aae-hashes-request',
      'node-a:aae-keys',
      'node-a:aae-push',
      'node-a:handoff-request',
      'node-b:handoff-done',
    ],
  )
})

test('a dropped request or a reply of the wrong type fails the call as a remote error', async () => {
  const { client } = await start()
  const isHandlerFailure = (error: unknown) =>
    error instanceof RpcError &&
    error.code === 'GOSSAMER_ERR_RPC_REMOTE' &&
    error.remoteCode === 'handlerFailed'
  await assert.rejects(
    callReplication(client, 'n', { type: 'put', requestId: 1, key: 'drop', record }),
    isHandlerFailure,
  )
  await assert.rejects(
    callReplication(client, 'n', { type: 'get', requestId: 1, key: 'wrong' }),
    isHandlerFailure,
  )
})
