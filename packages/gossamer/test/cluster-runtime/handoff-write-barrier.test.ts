// Goal: a hand-off source serves pages only once the writes it took under its previous placement
// are durable; and a receiver whose request a source refuses pushes/pulls ownership state with
// that source at once (`syncOwnership`), and asks it again later. With the hand-off fence (docs/simulation.md finding 23) a stale old replica serves
// a receiver only after it has learnt the change; a replica put it decided just before (from a
// coordinator on the old view) may still be committing then. Read before that commit, the page
// misses the write, which is acknowledged once it commits: a pass the receiver counts, without
// a write a quorum of the old view acknowledged.
// Method: the runtime's ReplicationDriver as source b, over a MemoryEngine whose writes the test
// holds back; owners {a, b, c} → {a, b, c, d, e} moves partition 1 (key k17) from {a, b, c} to
// {e, d, a}, so b hands it off.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ReplicationDriver } from '../../src/cluster/runtime/replication-driver.ts'
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { silentLogger } from '../../src/log.ts'
import type {
  HandoffBatchMessage,
  PutReplyMessage,
  ReplicationMessage,
} from '../../src/replication/messages.ts'
import { computePlacement, partitionOf } from '../../src/ring/partitioner.ts'
import { RPC_ERROR_CODES, RpcError } from '../../src/rpc/errors.ts'
import type { WriteEntry, WriteOutcome } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

const OPTIONS = { partitionCount: 8, replicaCount: 3 }
const BEFORE = computePlacement(['a', 'b', 'c'], OPTIONS)
const AFTER = computePlacement(['a', 'b', 'c', 'd', 'e'], OPTIONS)
const KEY = 'k17'
const P = partitionOf(KEY, OPTIONS.partitionCount)

describe('replication driver: hand-off pages after the writes of the previous placement', () => {
  const drivers: ReplicationDriver[] = []
  after(async () => {
    for (const driver of drivers) await driver.close()
  })

  test('a page waits for a put taken under the old placement to commit, and holds it', async () => {
    assert.deepEqual(BEFORE.preferenceList(P), ['a', 'b', 'c'])
    assert.deepEqual(AFTER.preferenceList(P), ['e', 'd', 'a'])
    const nowMs = 1_700_000_000_000
    const engine = new MemoryEngine()
    const realWriteBatch = engine.writeBatch.bind(engine)
    let holding = false
    const held: Array<() => void> = []
    engine.writeBatch = (entries: readonly WriteEntry[]): Promise<WriteOutcome[]> => {
      if (!holding) return realWriteBatch(entries)
      return new Promise((resolve, reject) => {
        held.push(() => realWriteBatch(entries).then(resolve, reject))
      })
    }
    let placement = BEFORE
    const driver = await ReplicationDriver.start(
      {
        self: 'b',
        engine,
        hlc: new HybridLogicalClock({ nodeId: 'b', wallClockMs: () => nowMs }),
        hintStore: { apply: () => {}, list: () => [] },
        transport: {
          request: () => Promise.reject(new Error('no peer traffic expected')),
          close: async () => {},
        },
        placement: () => placement,
        isReachable: () => true,
        nowMs: () => nowMs,
        logger: silentLogger(),
      },
      {
        requestTimeoutMs: 1_000,
        tickIntervalMs: 5,
        tombstoneGraceMs: 60_000,
        maxClockSkewMs: 60_000,
        antiEntropyIntervalMs: 60_000,
        antiEntropyRecordsPerSec: 100,
        handoffRecordsPerSec: 100,
      },
    )
    drivers.push(driver)
    driver.applyPlacement(BEFORE, undefined)

    // A coordinator on the old view (c) puts k17; b, a replica there, takes it: committing.
    holding = true
    const record = {
      version: { wallMs: nowMs, logical: 0, nodeId: 'c' },
      value: Uint8Array.of(2),
    }
    const putReply = driver.handle('c', {
      type: 'put',
      requestId: 1,
      key: KEY,
      record,
      replicas: BEFORE.preferenceList(P),
    })
    assert.equal(held.length, 1, 'the put is being written')

    // b learns the joins: it hands partition 1 off, and d asks for its first page.
    placement = AFTER
    driver.applyPlacement(AFTER, BEFORE, [])
    holding = false
    const answered: { page?: HandoffBatchMessage } = {}
    const pageNow = (): HandoffBatchMessage | undefined => answered.page
    const asked = driver
      .handle('d', {
        type: 'handoff-request',
        transferId: 1,
        partition: P,
        limit: 100,
        replicas: AFTER.preferenceList(P),
      })
      .then((reply) => {
        answered.page = reply as HandoffBatchMessage
      })
    await sleep(20)
    assert.equal(pageNow(), undefined, 'no page while a write of the old placement commits')

    for (const release of held) release()
    await asked
    const page = pageNow()
    assert.ok(page !== undefined)
    assert.deepEqual(
      page.entries.map((entry) => [entry.key, entry.record.version]),
      [[KEY, record.version]],
      'the page holds the put',
    )
    assert.equal(page.cursor, undefined)
    assert.equal(page.partial, undefined, 'a complete copy')
    const reply = (await putReply) as PutReplyMessage
    assert.equal(reply.status, 'applied')
  })

  test('a receiver refused by a source syncs ownership with it and asks again; a silent one is not synced with', async () => {
    // d applied {a, b, c, d, e}: it receives partition 1 (among others) from {a, b, c}, then the
    // other owners. b (and e) refuse every request (their views differ), c's calls time out, a
    // serves empty pages.
    const nowMs = 1_700_000_000_000
    const requests: Array<{ to: string; replicas: readonly string[] | undefined }> = []
    const synced: string[][] = []
    const driver = await ReplicationDriver.start(
      {
        self: 'd',
        engine: new MemoryEngine(),
        hlc: new HybridLogicalClock({ nodeId: 'd', wallClockMs: () => nowMs }),
        hintStore: { apply: () => {}, list: () => [] },
        transport: {
          request: (to: string, message: ReplicationMessage) => {
            if (message.type !== 'handoff-request') return Promise.resolve(undefined)
            if (message.partition === P) requests.push({ to, replicas: message.replicas })
            if (to !== 'a' && to !== 'c') {
              return Promise.reject(
                new RpcError(RPC_ERROR_CODES.remote, 'handoff-request refused', 'handlerFailed'),
              )
            }
            if (to === 'c') {
              return Promise.reject(new RpcError(RPC_ERROR_CODES.timeout, 'timed out'))
            }
            return Promise.resolve({
              type: 'handoff-batch',
              transferId: message.transferId,
              partition: message.partition,
              entries: [],
            })
          },
          close: async () => {},
        },
        placement: () => AFTER,
        isReachable: () => true,
        nowMs: () => nowMs,
        logger: silentLogger(),
        syncOwnership: (nodes) => synced.push([...nodes]),
      },
      {
        requestTimeoutMs: 1_000,
        tickIntervalMs: 5,
        tombstoneGraceMs: 60_000,
        maxClockSkewMs: 60_000,
        antiEntropyIntervalMs: 60_000,
        antiEntropyRecordsPerSec: 100,
        handoffRecordsPerSec: 1_000_000,
      },
    )
    drivers.push(driver)
    driver.applyPlacement(AFTER, BEFORE, [])
    for (let i = 0; i < 100 && requests.filter((r) => r.to === 'b').length < 2; i++) await sleep(5)
    assert.ok(
      requests.filter((r) => r.to === 'b').length >= 2,
      `b asked again: ${JSON.stringify(requests)}`,
    )
    for (const request of requests) assert.deepEqual(request.replicas, AFTER.preferenceList(P))
    assert.ok(
      synced.some((nodes) => nodes.length === 1 && nodes[0] === 'b'),
      'synced with b',
    )
    assert.ok(!synced.some((nodes) => nodes.includes('c')), 'not with c, which did not answer')
    assert.equal(driver.handoffStateOf(P), 'streaming', 'one complete pass (a) of the two needed')
  })
})
