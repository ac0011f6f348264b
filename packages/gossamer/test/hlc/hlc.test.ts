import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { HlcSkewError, HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { compareVersions, VERSION_LOGICAL_MAX, type Version } from '../../src/hlc/version.ts'

/** A wall clock that returns the given readings in turn, then repeats the last one. */
function scriptedClock(readingsMs: readonly number[]): () => number {
  let index = 0
  return () => {
    const reading = readingsMs[Math.min(index, readingsMs.length - 1)] ?? 0
    index += 1
    return reading
  }
}

/** A wall clock whose reading the test sets by hand. */
function manualClock(startMs: number): { read: () => number; set: (ms: number) => void } {
  let nowMs = startMs
  return { read: () => nowMs, set: (ms) => (nowMs = ms) }
}

const wallMsArb = fc.integer({ min: 0, max: 2 ** 45 })
const versionArb = fc.record({
  wallMs: wallMsArb,
  logical: fc.integer({ min: 0, max: VERSION_LOGICAL_MAX }),
  nodeId: fc.string({ minLength: 1, maxLength: 8 }),
})

describe('hlc: HybridLogicalClock', () => {
  it('issues strictly increasing versions under any wall-clock sequence, backwards jumps included', () => {
    // Goal: monotonicity never depends on the wall clock. Method: random readings, some jumping
    // far back, and check each issued version against the previous one.
    fc.assert(
      fc.property(fc.array(wallMsArb, { minLength: 1, maxLength: 200 }), (readingsMs) => {
        const clock = new HybridLogicalClock({
          nodeId: 'n1',
          wallClockMs: scriptedClock(readingsMs),
        })
        let previous: Version | undefined
        for (let i = 0; i < readingsMs.length + 5; i++) {
          const version = clock.now()
          if (previous !== undefined) assert.ok(compareVersions(version, previous) > 0)
          assert.ok(version.wallMs >= (readingsMs[Math.min(i, readingsMs.length - 1)] ?? 0))
          previous = version
        }
      }),
    )
  })

  it('issues versions greater than every observed remote version', () => {
    // Goal: after observe(remote), later versions sort after remote whatever the node ids.
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            wallMsArb.map((ms) => ({ tick: ms })),
            versionArb.map((v) => ({ v })),
          ),
          {
            maxLength: 100,
          },
        ),
        (steps) => {
          const wall = manualClock(0)
          const clock = new HybridLogicalClock({
            nodeId: 'a',
            wallClockMs: wall.read,
            maxSkewMs: Number.MAX_SAFE_INTEGER,
          })
          let maxSeen: Version | undefined
          for (const step of steps) {
            if ('tick' in step) {
              wall.set(step.tick)
              const version = clock.now()
              if (maxSeen !== undefined) assert.ok(compareVersions(version, maxSeen) > 0)
              maxSeen = version
            } else {
              clock.observe(step.v)
              if (maxSeen === undefined || compareVersions(step.v, maxSeen) > 0) maxSeen = step.v
            }
          }
          if (maxSeen !== undefined) assert.ok(compareVersions(clock.now(), maxSeen) > 0)
        },
      ),
    )
  })

  it('rejects a remote version beyond maxSkewMs with HlcSkewError and leaves the clock unchanged', () => {
    // Method: two clocks see the same wall readings; one also observes a too-far remote. Their
    // later versions must be identical.
    fc.assert(
      fc.property(
        wallMsArb,
        fc.integer({ min: 0, max: 120_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        (localMs, maxSkewMs, excessMs) => {
          const wall = manualClock(localMs)
          const options = { nodeId: 'n1', wallClockMs: wall.read, maxSkewMs }
          const probed = new HybridLogicalClock(options)
          const control = new HybridLogicalClock(options)
          assert.deepEqual(probed.now(), control.now())
          const remote = { wallMs: localMs + maxSkewMs + excessMs, logical: 0, nodeId: 'far' }
          assert.throws(
            () => probed.observe(remote),
            (error: unknown) =>
              error instanceof HlcSkewError &&
              error.code === 'GOSSAMER_ERR_CLOCK_SKEW' &&
              error.message.includes(String(remote.wallMs)) &&
              error.message.includes(String(localMs)) &&
              error.message.includes(String(maxSkewMs)),
          )
          assert.deepEqual(probed.peek(), control.peek())
          assert.deepEqual(probed.now(), control.now())
        },
      ),
    )
  })

  it('accepts a remote version exactly maxSkewMs ahead and issues later versions after it', () => {
    const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 1_000, maxSkewMs: 500 })
    const remote = { wallMs: 1_500, logical: 7, nodeId: 'zz' }
    clock.observe(remote)
    assert.deepEqual(clock.now(), { wallMs: 1_500, logical: 8, nodeId: 'n1' })
  })

  it('uses the default maxSkewMs of 60 s when none is given', () => {
    const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 0 })
    clock.observe({ wallMs: 60_000, logical: 0, nodeId: 'r' })
    assert.throws(() => clock.observe({ wallMs: 60_001, logical: 0, nodeId: 'r' }), HlcSkewError)
  })

  it('advances wallMs by one when the logical counter would overflow', () => {
    const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 10 })
    clock.observe({ wallMs: 10, logical: VERSION_LOGICAL_MAX - 1, nodeId: 'r' })
    assert.deepEqual(clock.now(), { wallMs: 10, logical: VERSION_LOGICAL_MAX, nodeId: 'n1' })
    assert.deepEqual(clock.now(), { wallMs: 11, logical: 0, nodeId: 'n1' })
    assert.deepEqual(clock.now(), { wallMs: 11, logical: 1, nodeId: 'n1' })
  })

  it('rejects a malformed remote version without moving the clock', () => {
    const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => 5 })
    const before = clock.now()
    for (const bad of [
      { wallMs: -1, logical: 0, nodeId: 'r' },
      { wallMs: 1.5, logical: 0, nodeId: 'r' },
      { wallMs: 6, logical: VERSION_LOGICAL_MAX + 1, nodeId: 'r' },
      { wallMs: 6, logical: 0, nodeId: '' },
    ]) {
      assert.throws(() => clock.observe(bad), RangeError)
    }
    assert.deepEqual(clock.peek(), before)
  })
})
