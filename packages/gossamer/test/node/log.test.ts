// Goal: log format selection follows the documented rule. Method: table test of the pure rule.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isPrettyFormat } from '../../src/log.ts'

test('logs are pretty when asked, or with auto on a terminal; JSON otherwise', () => {
  assert.equal(isPrettyFormat('pretty', false), true)
  assert.equal(isPrettyFormat('auto', true), true)
  assert.equal(isPrettyFormat('auto', false), false)
  assert.equal(isPrettyFormat('json', true), false)
})
