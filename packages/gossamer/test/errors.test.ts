// Goal: keep the error catalogue in code and docs/errors.md identical, in both directions
// (the fastify errors.test.js pattern). Method: parse the markdown table and compare.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ERROR_CATALOGUE, ERROR_CODES, GossamerError, isGossamerError } from '../src/errors.ts'

const docsPath = new URL('../../../docs/errors.md', import.meta.url)

function documentedCodes(): Map<string, number> {
  const rows = new Map<string, number>()
  for (const line of readFileSync(docsPath, 'utf8').split('\n')) {
    const m = /^\|\s*`(GOSSAMER_ERR_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line)
    if (m !== null) rows.set(m[1]!, Number(m[2]))
  }
  return rows
}

test('every code in errors.ts is documented in docs/errors.md with the same status', () => {
  const docs = documentedCodes()
  for (const code of ERROR_CODES) {
    assert.ok(docs.has(code), `${code} is missing from docs/errors.md`)
    assert.equal(docs.get(code), ERROR_CATALOGUE[code].httpStatus, `${code} status differs`)
  }
})

test('every code documented in docs/errors.md exists in errors.ts', () => {
  for (const code of documentedCodes().keys()) {
    assert.ok(Object.hasOwn(ERROR_CATALOGUE, code), `${code} is documented but not defined`)
  }
})

test('every code is named GOSSAMER_ERR_<WHAT> and has a status and a one-line meaning', () => {
  for (const code of ERROR_CODES) {
    assert.match(code, /^GOSSAMER_ERR_[A-Z]+(_[A-Z]+)*$/)
    const spec = ERROR_CATALOGUE[code]
    assert.ok(spec.httpStatus >= 400 && spec.httpStatus <= 599)
    assert.ok(spec.meaning.length > 0 && !spec.meaning.includes('\n'))
  }
})

test('a GossamerError carries its code and the catalogue status', () => {
  const error = new GossamerError('GOSSAMER_ERR_KEY_NOT_FOUND', 'key "a" not found')
  assert.equal(error.code, 'GOSSAMER_ERR_KEY_NOT_FOUND')
  assert.equal(error.httpStatus, 404)
  assert.equal(error.name, 'GossamerError')
  assert.ok(isGossamerError(error))
  assert.ok(isGossamerError({ code: 'GOSSAMER_ERR_INTERNAL' }))
  assert.ok(!isGossamerError(new Error('plain')))
  assert.ok(!isGossamerError({ code: 'GOSSAMER_ERR_NO_SUCH_THING' }))
})
