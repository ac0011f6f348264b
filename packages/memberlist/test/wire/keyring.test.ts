import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Keyring } from '../../src/wire/keyring.ts'

const k1 = new Uint8Array(16).fill(1)
const k2 = new Uint8Array(24).fill(2)
const k3 = new Uint8Array(32).fill(3)

function ring(...keys: Uint8Array[]): Keyring {
  const r = Keyring.create({ keys })
  assert.ok(r.ok)
  return r.keyring
}

describe('keyring', () => {
  it('is empty and disabled when created without keys', () => {
    const r = ring()
    assert.equal(r.enabled, false)
    assert.equal(r.primaryKey(), undefined)
    assert.deepEqual(r.list(), [])
  })

  it('makes the first installed key primary and appends later ones', () => {
    const r = ring()
    assert.ok(r.install(k1).ok)
    assert.ok(r.install(k2).ok)
    assert.equal(r.enabled, true)
    assert.deepEqual(r.primaryKey(), k1)
    assert.deepEqual(r.list(), [k1, k2])
  })

  it('treats installing an installed key as a no-op', () => {
    const r = ring(k1, k2)
    assert.ok(r.install(k2).ok)
    assert.deepEqual(r.list(), [k1, k2])
  })

  it('accepts only 16, 24 or 32 byte keys', () => {
    const r = ring()
    for (const n of [0, 1, 15, 17, 23, 31, 33, 64]) {
      const res = r.install(new Uint8Array(n))
      assert.equal(res.ok, false)
      if (!res.ok) assert.equal(res.code, 'MEMBERLIST_ERR_KEY_SIZE')
    }
    const bad = Keyring.create({ keys: [k1, new Uint8Array(5)] })
    assert.equal(bad.ok, false)
  })

  it('honours an explicit primary key at creation, like Go NewKeyring', () => {
    const r = Keyring.create({ keys: [k1, k2], primaryKey: k3 })
    assert.ok(r.ok)
    assert.deepEqual(r.keyring.list(), [k3, k1, k2])
  })

  it('moves a key to the front with use, and refuses a key that is not installed', () => {
    const r = ring(k1, k2, k3)
    assert.ok(r.use(k3).ok)
    assert.deepEqual(r.list(), [k3, k1, k2])
    const res = r.use(new Uint8Array(16).fill(9))
    assert.equal(res.ok, false)
    if (!res.ok) assert.equal(res.code, 'MEMBERLIST_ERR_KEY_NOT_INSTALLED')
  })

  it('refuses to remove the primary key, removes others, and ignores absent keys', () => {
    const r = ring(k1, k2)
    const res = r.remove(k1)
    assert.equal(res.ok, false)
    if (!res.ok) assert.equal(res.code, 'MEMBERLIST_ERR_REMOVE_PRIMARY_KEY')
    assert.ok(r.remove(k2).ok)
    assert.ok(r.remove(k3).ok)
    assert.deepEqual(r.list(), [k1])
  })

  it('keeps its own copies of keys', () => {
    const key = new Uint8Array(16).fill(4)
    const r = ring(key)
    key.fill(0)
    r.list()[0]!.fill(0)
    assert.deepEqual(r.primaryKey(), new Uint8Array(16).fill(4))
  })
})
