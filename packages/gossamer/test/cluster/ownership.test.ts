// Goal: the ownership set is a join-semilattice (so gossip order and duplication never matter),
// its transitions do what the lifecycle says, and its codec round-trips and never throws.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  decodeOwnership,
  encodeOwnership,
  isOwnerIn,
  joinOwnership,
  leaveOwnership,
  members,
  mergeOwnership,
  type OwnershipEntry,
  type OwnershipSet,
  pickOwnership,
  removeOwnership,
  wouldChange,
} from '../../src/cluster/ownership.ts'

const entry: fc.Arbitrary<OwnershipEntry> = fc.record(
  {
    state: fc.constantFrom('member', 'leaving', 'removed'),
    version: fc.oneof(fc.nat(5), fc.constant(Number.MAX_SAFE_INTEGER)),
  },
  { noNullPrototype: true },
)
const name = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'd'),
  fc.string({ minLength: 1, maxLength: 8 }),
)
const ownershipSet: fc.Arbitrary<OwnershipSet> = fc
  .array(fc.tuple(name, entry), { maxLength: 8 })
  .map((pairs) => mergeOwnership(new Map(), new Map(pairs)))

const asPairs = (set: OwnershipSet) => [...set]

test('merge is commutative, associative and idempotent', () => {
  fc.assert(
    fc.property(ownershipSet, ownershipSet, ownershipSet, (a, b, c) => {
      assert.deepEqual(asPairs(mergeOwnership(a, b)), asPairs(mergeOwnership(b, a)))
      assert.deepEqual(
        asPairs(mergeOwnership(mergeOwnership(a, b), c)),
        asPairs(mergeOwnership(a, mergeOwnership(b, c))),
      )
      assert.deepEqual(asPairs(mergeOwnership(a, a)), asPairs(a))
    }),
    { numRuns: 300 },
  )
})

test('merge is an upper bound and wouldChange says whether merging adds anything', () => {
  fc.assert(
    fc.property(ownershipSet, ownershipSet, (a, b) => {
      const joined = mergeOwnership(a, b)
      assert.deepEqual(asPairs(mergeOwnership(joined, a)), asPairs(joined))
      assert.equal(
        wouldChange(a, b),
        JSON.stringify(asPairs(joined)) !== JSON.stringify(asPairs(a)),
      )
    }),
    { numRuns: 300 },
  )
})

test('join, leave and remove bump the version and later changes win after merging', () => {
  let s = joinOwnership(new Map(), 'n1')
  s = joinOwnership(s, 'n2')
  assert.deepEqual(members(s), ['n1', 'n2'])
  const left = leaveOwnership(s, 'n1')
  assert.deepEqual(left.get('n1'), { state: 'leaving', version: 2 })
  assert.deepEqual(members(mergeOwnership(s, left)), ['n2'])
  const removed = removeOwnership(left, 'n1')
  // A stale broadcast of the old membership cannot resurrect a removed node.
  assert.equal(mergeOwnership(removed, s).get('n1')?.state, 'removed')
  // A concurrent re-join and removal at the same version resolve to the removal.
  const rejoined = joinOwnership(left, 'n1')
  assert.equal(mergeOwnership(rejoined, removed).get('n1')?.state, 'removed')
  // A later re-join (higher version) makes it a member again.
  assert.deepEqual(members(joinOwnership(removed, 'n1')), ['n1', 'n2'])
  assert.deepEqual(asPairs(pickOwnership(removed, ['n2', 'zz'])), [['n2', s.get('n2')]])
})

test('encode then decode returns the same state', () => {
  fc.assert(
    fc.property(ownershipSet, (set) => {
      const decoded = decodeOwnership(encodeOwnership(set))
      assert.ok(decoded.ok)
      assert.deepEqual(asPairs(decoded.value), asPairs(set))
    }),
    { numRuns: 300 },
  )
})

test('decoding random or mutated bytes never throws and keeps versions safe', () => {
  fc.assert(
    fc.property(
      ownershipSet,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.uint8Array({ maxLength: 64 }),
      (set, mutations, noise) => {
        const bytes = encodeOwnership(set)
        for (const [at, value] of mutations) if (bytes.length > 0) bytes[at % bytes.length] = value
        for (const input of [bytes, noise, bytes.subarray(0, Math.max(0, bytes.length - 3))]) {
          const decoded = decodeOwnership(input)
          if (decoded.ok) {
            for (const e of decoded.value.values()) assert.ok(Number.isSafeInteger(e.version))
          }
        }
      },
    ),
    { numRuns: 500 },
  )
  assert.equal(decodeOwnership(new Uint8Array([9, 0, 0])).ok, false)
  assert.equal(decodeOwnership(new Uint8Array([1, 0, 0, 7])).ok, false)
})

test('isOwnerIn: members and leavers are owners; removed and unknown names are not', () => {
  let set = joinOwnership(joinOwnership(new Map(), 'a'), 'b')
  set = leaveOwnership(set, 'b')
  set = removeOwnership(joinOwnership(set, 'c'), 'c')
  assert.equal(isOwnerIn(set, 'a'), true)
  assert.equal(isOwnerIn(set, 'b'), true)
  assert.equal(isOwnerIn(set, 'c'), false)
  assert.equal(isOwnerIn(set, 'd'), false)
})
