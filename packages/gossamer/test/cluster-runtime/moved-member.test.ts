// Goal: a node that restarts at a new gossip address before the others declared its old one
// dead is taken back by each of them as soon as they do, not at a later push/pull.
// Method: three in-process nodes (port 0, so a restart gets new ports); c is stopped like a
// crash and started again at once. Memberlist ignores c's alive message from the new address as
// a name conflict while the old one is alive or suspect. Each of a and b is watched every 20 ms
// for the moment it declares c's old address dead and the moment it sees c alive at the new one.
// Without the membership's moved-member contact, the new address arrives only when c happens to
// push/pull with that node (every 15 s in the `local` preset, to a random member).
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { sleep, TestCluster } from './helpers.ts'

const clusters: TestCluster[] = []
after(async () => {
  for (const cluster of clusters) await cluster.stop()
})

test('a node restarted at a new address is seen alive there right after its old one is declared dead', {
  timeout: 90_000,
}, async () => {
  const cluster = new TestCluster()
  clusters.push(cluster)
  for (const name of ['a', 'b', 'c']) await cluster.start(name)
  await cluster.waitMembers(['a', 'b', 'c'])
  const oldAddress = cluster.node('c').gossipAddress
  await cluster.crash('c')
  const c = await cluster.start('c')
  assert.notEqual(c.gossipAddress, oldAddress)
  const deadAt = new Map<string, number>()
  const aliveAt = new Map<string, number>()
  const deadline = Date.now() + 60_000
  // Bounded by the deadline.
  while (aliveAt.size < 2 && Date.now() < deadline) {
    for (const name of ['a', 'b']) {
      if (aliveAt.has(name)) continue
      const row = cluster
        .node(name)
        .cluster.members()
        .find((m) => m.name === 'c')
      if (row === undefined) continue
      if (row.address === oldAddress && (row.state === 'dead' || row.state === 'left')) {
        if (!deadAt.has(name)) deadAt.set(name, Date.now())
      }
      if (row.address === c.gossipAddress && row.state === 'alive') aliveAt.set(name, Date.now())
    }
    await sleep(20)
  }
  for (const name of ['a', 'b']) {
    const alive = aliveAt.get(name)
    assert.ok(alive !== undefined, `${name} never saw c alive at its new address`)
    // A node may also learn it from the other's gossip before its own timer ran out.
    const dead = deadAt.get(name) ?? alive
    assert.ok(
      alive - dead < 3_000,
      `${name} saw c at its new address ${alive - dead} ms after declaring the old one dead`,
    )
  }
  await cluster.stop()
})
