// Goal: the persisted cluster state round-trips, is written atomically, and a damaged or foreign
// file is ignored with a reason instead of crashing the node.
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import fc from 'fast-check'
import { joinOwnership, leaveOwnership } from '../../src/cluster/ownership.ts'
import {
  CLUSTER_STATE_FILE,
  ClusterStateWriter,
  formatClusterState,
  parseClusterState,
  readClusterState,
} from '../../src/cluster/runtime/cluster-state-file.ts'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gossamer-state-'))
  dirs.push(dir)
  return dir
}

const ownership = leaveOwnership(joinOwnership(joinOwnership(new Map(), 'a'), 'b'), 'b')

describe('cluster state file', () => {
  test('a written state reads back the same, and no temp file is left behind', async () => {
    const dir = await tempDir()
    const writer = new ClusterStateWriter({
      dataDir: dir,
      partitionCount: 64,
      onError: (error) => assert.fail(String(error)),
    })
    writer.offer({ ownership, peers: ['127.0.0.1:2'] })
    writer.offer({ ownership, peers: ['127.0.0.1:2', '127.0.0.1:3'] })
    await writer.flushed()
    const read = await readClusterState(dir, 64)
    assert.ok(read.ok)
    assert.deepEqual(read.state?.ownership, ownership)
    assert.deepEqual(read.state?.peers, ['127.0.0.1:2', '127.0.0.1:3'])
    assert.deepEqual(await readdir(dir), [CLUSTER_STATE_FILE])
  })

  test('a missing file is no state, and a file of another partition count is ignored', async () => {
    const dir = await tempDir()
    assert.deepEqual(await readClusterState(dir, 64), { ok: true, state: undefined })
    await writeFile(join(dir, CLUSTER_STATE_FILE), formatClusterState({ ownership, peers: [] }, 8))
    const read = await readClusterState(dir, 64)
    assert.equal(read.ok, false)
  })

  test('parsing arbitrary text never throws', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        parseClusterState(text, 64)
      }),
    )
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        parseClusterState(JSON.stringify(value), 64)
      }),
    )
    const bad = parseClusterState('{"format":1,"partitions":64,"ownership":"AAAA"}', 64)
    assert.equal(bad.ok, false)
  })
})
