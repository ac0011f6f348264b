// Goal: the placement properties architecture §5 and issue 4 ask for, measured on the defaults
// (4096 partitions, load factor 1.08): same placement from the same set in any order; adding one
// node to M moves about 1/(M+1) of the replica slots (at most 1.3×); the most loaded node holds
// at most 1.15× the average. Method: fast-check over random node names and M in 3..20.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  computePlacement,
  DEFAULT_PARTITION_COUNT,
  fallbacks,
  type Placement,
  partitionOf,
  preferenceList,
} from '../../src/ring/partitioner.ts'

const nodeName = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/)
const names = (min: number, max: number) =>
  fc.uniqueArray(nodeName, { minLength: min, maxLength: max })

function allLists(placement: Placement): string[][] {
  return Array.from({ length: placement.partitionCount }, (_, p) => placement.orderedOwners(p))
}

test('every node computes the same placement from the same set, whatever the input order', () => {
  fc.assert(
    fc.property(
      names(1, 12).chain((set) =>
        fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })),
      ),
      fc.constantFrom(1, 3),
      ([set, shuffled], replicaCount) => {
        const a = computePlacement(set, { replicaCount })
        const b = computePlacement([...shuffled, ...shuffled.slice(0, 2)], { replicaCount })
        assert.deepEqual(allLists(b), allLists(a))
      },
    ),
    { numRuns: 15 },
  )
})

test('replica lists hold min(N, M) distinct owners and the full order holds every owner', () => {
  fc.assert(
    fc.property(names(1, 8), fc.integer({ min: 1, max: 5 }), (set, replicaCount) => {
      const placement = computePlacement(set, { replicaCount, partitionCount: 64 })
      for (let p = 0; p < 64; p++) {
        const replicas = placement.preferenceList(p)
        assert.equal(replicas.length, Math.min(replicaCount, set.length))
        assert.equal(new Set(replicas).size, replicas.length)
        const ordered = placement.orderedOwners(p)
        assert.deepEqual(ordered.slice(0, replicas.length), replicas)
        assert.deepEqual([...ordered].sort(), [...set].sort())
      }
    }),
    { numRuns: 40 },
  )
})

function movedFraction(before: Placement, after: Placement, primaryOnly: boolean): number {
  let moved = 0
  let slots = 0
  for (let p = 0; p < before.partitionCount; p++) {
    const old = primaryOnly ? before.preferenceList(p, 1) : before.preferenceList(p)
    const now = primaryOnly ? after.preferenceList(p, 1) : after.preferenceList(p)
    const oldSet = new Set(old)
    for (const owner of now) if (!oldSet.has(owner)) moved++
    slots += now.length
  }
  return moved / slots
}

test('adding one node to M (3..20) moves about 1/(M+1) of the replicas and at most 1.3x that', () => {
  fc.assert(
    fc.property(names(4, 21), fc.constantFrom(1, 3), (set, replicaCount) => {
      const m = set.length - 1
      const before = computePlacement(set.slice(0, m), { replicaCount })
      const after = computePlacement(set, { replicaCount })
      const ideal = 1 / (m + 1)
      for (const primaryOnly of [false, true]) {
        const fraction = movedFraction(before, after, primaryOnly)
        assert.ok(fraction <= 1.3 * ideal, `M=${m} moved ${fraction} > 1.3 × ${ideal}`)
        assert.ok(fraction >= 0.7 * ideal, `M=${m} moved ${fraction}, far below ${ideal}`)
      }
    }),
    { numRuns: 25 },
  )
})

test('the most loaded node replicates at most 1.15x the average partition count (M 3..20)', () => {
  fc.assert(
    fc.property(names(3, 20), fc.constantFrom(1, 2, 3), (set, replicaCount) => {
      const loads = [...computePlacement(set, { replicaCount }).replicaLoads().values()]
      const average = (DEFAULT_PARTITION_COUNT * Math.min(replicaCount, set.length)) / set.length
      assert.ok(Math.max(...loads) <= 1.15 * average, `max ${Math.max(...loads)} avg ${average}`)
    }),
    { numRuns: 25 },
  )
})

test('fallbacks are the alive owners after the first N, in preference order', () => {
  const set = ['a', 'b', 'c', 'd', 'e', 'f']
  const placement = computePlacement(set, { replicaCount: 3, partitionCount: 16 })
  for (let p = 0; p < 16; p++) {
    const ordered = placement.orderedOwners(p)
    const dead = new Set([ordered[3]!])
    const alive = (name: string) => !dead.has(name)
    assert.deepEqual(placement.fallbacks(p, alive, 2), [ordered[4]!, ordered[5]!])
    const opts = { replicaCount: 3, partitionCount: 16 }
    assert.deepEqual(fallbacks(p, set, alive, 1, opts), [ordered[4]!])
    assert.deepEqual(fallbacks(p, set, new Set(set), 5, opts), ordered.slice(3))
    assert.deepEqual(preferenceList(p, [...set].reverse(), 3, opts), ordered.slice(0, 3))
  }
})

test('keys map to partitions by key hash modulo the partition count', () => {
  assert.equal(partitionOf('hello'), 0x248bfa47 % DEFAULT_PARTITION_COUNT)
  assert.equal(partitionOf('hello', 7), 0x248bfa47 % 7)
})

test('an empty ownership set owns nothing and bad settings are refused', () => {
  const placement = computePlacement([])
  assert.deepEqual(placement.preferenceList(0), [])
  assert.deepEqual(
    placement.fallbacks(0, () => true, 3),
    [],
  )
  assert.throws(() => computePlacement(['a'], { partitionCount: 0 }), RangeError)
  assert.throws(() => computePlacement(['a'], { loadFactor: 0.9 }), RangeError)
})
