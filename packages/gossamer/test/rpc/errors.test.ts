// Goal: RPC failures are catalogued boundary errors: every RpcError code is in the error
// catalogue, and an RpcError is a GossamerError carrying the catalogue's HTTP status.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ERROR_CATALOGUE, GossamerError, isGossamerError } from '../../src/errors.ts'
import { RPC_ERROR_CODES, RpcError } from '../../src/rpc/errors.ts'

test('every RPC error code is in the error catalogue', () => {
  for (const code of Object.values(RPC_ERROR_CODES)) {
    assert.ok(Object.hasOwn(ERROR_CATALOGUE, code), `${code} is not catalogued`)
  }
})

test('an RpcError is a GossamerError with the catalogue status and its remote code', () => {
  const error = new RpcError(RPC_ERROR_CODES.remote, 'boom', 'handlerFailed')
  assert.ok(error instanceof GossamerError)
  assert.ok(isGossamerError(error))
  assert.equal(error.name, 'RpcError')
  assert.equal(error.code, 'GOSSAMER_ERR_RPC_REMOTE')
  assert.equal(error.httpStatus, 502)
  assert.equal(error.remoteCode, 'handlerFailed')
  assert.equal(new RpcError(RPC_ERROR_CODES.timeout, 'slow').httpStatus, 504)
})
