// Goal: the awareness score stays within [0, max-1] and scales timeouts by score + 1.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Awareness } from '../../src/core/awareness.ts'

test('awareness clamps to [0, max - 1] and scales timeouts', () => {
  const a = new Awareness(8)
  assert.equal(a.applyDelta(-1), 0)
  assert.equal(a.scaleMs(1000), 1000)
  assert.equal(a.applyDelta(3), 3)
  assert.equal(a.scaleMs(1000), 4000)
  assert.equal(a.applyDelta(100), 7)
  assert.equal(a.scaleMs(1000), 8000)
  assert.equal(a.applyDelta(-2), 5)
})
