// Goal: the decoders that read what is on disk — the record codec (data and hint stores), the
// hint store's key and value (`decodeHint`), and the persisted cluster state
// (`parseClusterState`) — never throw anything but their documented error on any bytes, and
// whatever they accept is a value that encodes back to the same bytes.
//
// The record codec's own tests (record-codec.test.ts) feed it random bytes and flipped bits;
// nearly all of those stop at the CRC-32C check. Here the checksum is recomputed after every
// mutation, so the parser behind the checksum — lengths, flags, numbers, UTF-8, trailing bytes —
// sees hostile structure (a record written by a buggy or future version, or a disk error that
// happens to keep the checksum). Method: fast-check, fixed run counts (docs/reliability.md,
// "Fuzzing", counts them).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { joinOwnership, leaveOwnership } from '../../src/cluster/ownership.ts'
import {
  formatClusterState,
  parseClusterState,
} from '../../src/cluster/runtime/cluster-state-file.ts'
import { VERSION_LOGICAL_MAX } from '../../src/hlc/version.ts'
import { decodeHint } from '../../src/replication/hint-store-lmdb.ts'
import { hintStoreKey } from '../../src/replication/hinted-handoff.ts'
import { crc32c } from '../../src/storage/crc32c.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { StorageCorruptionError } from '../../src/storage/errors.ts'
import { decodeRecord, encodeRecord } from '../../src/storage/record-codec.ts'

/** Runs per property (the table in docs/reliability.md quotes these). */
const RUNS = {
  recordBodyRandom: 3_000,
  recordMutated: 3_000,
  hintRandom: 2_000,
  hintMutated: 2_000,
  clusterStateMutated: 1_000,
} as const

const text = (maxLength: number) => fc.string({ maxLength, unit: 'binary' })

const recordArb: fc.Arbitrary<StoredRecord> = fc
  .record({
    wallMs: fc.maxSafeNat(),
    logical: fc.integer({ min: 0, max: VERSION_LOGICAL_MAX }),
    nodeId: text(12).filter((s) => s.length > 0),
    value: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
    expiresAtMs: fc.option(fc.maxSafeInteger(), { nil: undefined }),
    contentType: fc.option(text(16), { nil: undefined }),
  })
  .map(({ wallMs, logical, nodeId, value, expiresAtMs, contentType }) => {
    const record: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = {
      version: { wallMs, logical, nodeId },
      value,
    }
    if (expiresAtMs !== undefined) record.expiresAtMs = expiresAtMs
    if (contentType !== undefined) record.contentType = contentType
    return record
  })

/** One byte-level mutation: overwrite, flip, insert, delete or truncate. */
const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
)
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (bytes.length === 0) return bytes
  const at = m.at % bytes.length
  const out = Array.from(bytes)
  if (m.kind === 'set') out[at] = m.value
  if (m.kind === 'flip') out[at] = out[at]! ^ (1 << m.bit)
  if (m.kind === 'insert') out.splice(at, 0, ...m.bytes)
  if (m.kind === 'delete') out.splice(at, m.count)
  if (m.kind === 'truncate') out.length = at
  return Uint8Array.from(out)
}

/** `body` followed by its CRC-32C, as the codec lays a record out. */
function withChecksum(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 4)
  out.set(body)
  new DataView(out.buffer).setUint32(body.length, crc32c(body, 0, body.length))
  return out
}

/** Decodes; a record it accepts must encode back to exactly the same bytes. */
function decodeOrCorrupt(bytes: Uint8Array): StoredRecord | undefined {
  let record: StoredRecord
  try {
    record = decodeRecord(bytes, 'k')
  } catch (error) {
    assert.ok(error instanceof StorageCorruptionError, `threw ${String(error)}`)
    return undefined
  }
  assert.deepEqual(encodeRecord(record), bytes, 'an accepted record re-encodes to its bytes')
  return record
}

describe('fuzzing the on-disk decoders', () => {
  it('record codec: random bodies with a valid checksum are a record that re-encodes, or corruption', () => {
    fc.assert(
      fc.property(
        // Start with a plausible header half the time, so the parser gets past the first checks.
        fc.boolean(),
        fc.nat({ max: 7 }),
        fc.uint8Array({ maxLength: 96 }),
        (plausible, flags, rest) => {
          const body = plausible ? Uint8Array.of(1, flags, ...rest) : rest
          decodeOrCorrupt(withChecksum(body))
        },
      ),
      { numRuns: RUNS.recordBodyRandom },
    )
  })

  it('record codec: mutated records with the checksum recomputed are a record that re-encodes, or corruption', () => {
    let accepted = 0
    fc.assert(
      fc.property(
        recordArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        (record, mutations) => {
          const encoded = encodeRecord(record)
          let body = encoded.subarray(0, encoded.length - 4)
          for (const m of mutations) body = mutate(body, m)
          if (decodeOrCorrupt(withChecksum(body)) !== undefined) accepted += 1
        },
      ),
      { numRuns: RUNS.recordMutated },
    )
    // Some mutations (inside the value or a text) leave a valid record: the parser was reached.
    assert.ok(accepted > 0, 'no mutated record was accepted: the parser was never exercised')
  })

  it('hint store: random keys and values decode to undefined or a consistent hint', () => {
    let accepted = 0
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc
            .tuple(fc.nat({ max: 20 }), text(24))
            .map(([n, rest]) => Uint8Array.from(Buffer.from(`${n}:${rest}`, 'utf8'))),
        ),
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          recordArb.map((record) => encodeRecord(record)),
        ),
        (keyBytes, value) => {
          const hint = decodeHint(keyBytes, value)
          if (hint === undefined) return
          assert.equal(
            hintStoreKey(hint.intendedReplica, hint.key),
            Buffer.from(keyBytes).toString('utf8'),
          )
          assert.deepEqual(encodeRecord(hint.record), value)
          accepted += 1
        },
      ),
      { numRuns: RUNS.hintRandom },
    )
    assert.ok(accepted > 0, 'no random entry was accepted')
  })

  it('hint store: mutated valid entries decode to undefined or a consistent hint', () => {
    let accepted = 0
    fc.assert(
      fc.property(
        text(10).filter((s) => s.length > 0),
        text(16),
        recordArb,
        fc.array(mutationArb, { maxLength: 3 }),
        fc.array(mutationArb, { maxLength: 3 }),
        (replica, key, record, keyMutations, valueMutations) => {
          let keyBytes: Uint8Array = Buffer.from(hintStoreKey(replica, key), 'utf8')
          let value = encodeRecord(record)
          for (const m of keyMutations) keyBytes = mutate(keyBytes, m)
          for (const m of valueMutations) value = mutate(value, m)
          const hint = decodeHint(keyBytes, value)
          if (hint === undefined) return
          assert.equal(
            hintStoreKey(hint.intendedReplica, hint.key),
            Buffer.from(keyBytes).toString('utf8'),
          )
          assert.deepEqual(encodeRecord(hint.record), value)
          accepted += 1
        },
      ),
      { numRuns: RUNS.hintMutated },
    )
    assert.ok(accepted > 0, 'no mutated entry was accepted')
  })

  it('cluster state file: mutated valid files parse to a state or a reason, never a throw', () => {
    const ownership = leaveOwnership(joinOwnership(joinOwnership(new Map(), 'a'), 'b'), 'b')
    const file = Buffer.from(
      formatClusterState({ ownership, peers: ['127.0.0.1:7946', '10.0.0.2:7946'] }, 64),
    )
    fc.assert(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (mutations) => {
        let bytes: Uint8Array = file
        for (const m of mutations) bytes = mutate(bytes, m)
        const read = parseClusterState(Buffer.from(bytes).toString('utf8'), 64)
        if (read.ok && read.state !== undefined) {
          for (const peer of read.state.peers) assert.equal(typeof peer, 'string')
        }
      }),
      { numRuns: RUNS.clusterStateMutated },
    )
  })
})
