/**
 * The durable `HintStore` (hinted-handoff.ts; architecture §6 "a fallback stores a write for an
 * unreachable replica durably"): hints live in their own LMDB environment, by convention the
 * directory `<dataDir>/hints`, apart from the data environment. A separate environment (not a
 * named database inside the data environment) because LMDB keeps named databases as keys of the
 * main database, where the data engine keeps user keys: the two would collide and the data scan
 * would meet them. Wiping the data directory wipes the hints with it, which is right: a node
 * rebuilt by anti-entropy owes nobody its old hints' freshness (anti-entropy repairs them).
 *
 * Layout: key = UTF-8 of `hintStoreKey(intendedReplica, key)` (`<replica length>:<replica><key>`,
 * so one replica's hints are contiguous), value = the record-codec bytes of the record
 * (record-codec.ts, checksummed). `list()` reads every hint back for `HintedHandoff.restore` at
 * startup; an entry that fails its checksum or its key layout is skipped and counted
 * (`corruptCount`), never fatal: anti-entropy repairs what that hint would have carried.
 *
 * Durability: `apply` is synchronous, as the port requires, and commits with `transactionSync`;
 * with `durability: 'sync'` (the default) LMDB fsyncs inside that commit, so when `apply`
 * returns the hints are on disk and the fallback may ack the coordinator. `applyAsync` does the
 * same off the event loop for drivers that can await; use one or the other for a given store.
 *
 * Bound: at most `maxHints` hints (default 1,000,000) across all replicas. The core already
 * bounds each replica's queue (`maxHintsPerReplica`); this bound protects the disk if many
 * replicas are down at once. A batch whose new keys would exceed it is refused whole with
 * `GOSSAMER_ERR_HINT_STORE_FULL` before anything is written; the driver then reports the
 * hinted put as failed and the coordinator tries the next fallback.
 */
import { mkdir } from 'node:fs/promises'
import { open, type RootDatabase } from 'lmdb'
import { GossamerError } from '../errors.ts'
import { compareVersions } from '../hlc/version.ts'
import type { Durability } from '../storage/engine.ts'
import { asStorageError } from '../storage/errors.ts'
import { decodeRecord, encodeRecord } from '../storage/record-codec.ts'
import { type Hint, type HintStore, type HintWrite, hintStoreKey } from './hinted-handoff.ts'

/** Default bound on stored hints, all replicas together. */
export const HINT_STORE_MAX_HINTS_DEFAULT = 1_000_000

/** Options of {@link LmdbHintStore.open}. */
export interface LmdbHintStoreOptions {
  /** Environment directory, created if missing; by convention `<dataDir>/hints`. */
  readonly path: string
  /** Most hints held at once. @default 1_000_000 */
  readonly maxHints?: number | undefined
  /** `sync` fsyncs every commit (see the file header). @default 'sync' */
  readonly durability?: Durability | undefined
}

type Bytes = Buffer

/** A `HintStore` in its own LMDB environment. Open with {@link LmdbHintStore.open}. */
export class LmdbHintStore implements HintStore {
  /** The environment directory. */
  readonly path: string
  readonly maxHints: number
  readonly #db: RootDatabase<Bytes, Bytes>
  #count: number
  #corruptCount = 0

  private constructor(path: string, maxHints: number, db: RootDatabase<Bytes, Bytes>) {
    this.path = path
    this.maxHints = maxHints
    this.#db = db
    this.#count = db.getCount()
  }

  /** Opens (creating if needed) the hint environment at `options.path`. */
  static async open(options: LmdbHintStoreOptions): Promise<LmdbHintStore> {
    const maxHints = options.maxHints ?? HINT_STORE_MAX_HINTS_DEFAULT
    if (!Number.isInteger(maxHints) || maxHints < 1) throw new RangeError('maxHints must be >= 1')
    try {
      await mkdir(options.path, { recursive: true })
      const db = open<Bytes, Bytes>({
        path: options.path,
        keyEncoding: 'binary',
        encoding: 'binary',
        overlappingSync: false,
        noSync: options.durability === 'relaxed',
      })
      return new LmdbHintStore(options.path, maxHints, db)
    } catch (error) {
      throw asStorageError(error, `opening hint store ${options.path}`)
    }
  }

  /** Hints stored now. */
  get size(): number {
    return this.#count
  }

  /** Entries skipped by `list()` because they could not be decoded, since open. */
  get corruptCount(): number {
    return this.#corruptCount
  }

  /**
   * Applies the writes in order in one durable commit (see the file header). Throws
   * `GOSSAMER_ERR_HINT_STORE_FULL` (nothing written) when the bound would be exceeded.
   */
  apply(writes: readonly HintWrite[]): void {
    if (writes.length === 0) return
    const prepared = writes.map(prepare)
    try {
      this.#count = this.#db.transactionSync(() => this.#applyInTransaction(prepared))
    } catch (error) {
      if (error instanceof GossamerError) throw error
      throw asStorageError(error, `writing ${writes.length} hint change(s)`)
    }
  }

  /** `apply` as an asynchronous LMDB transaction (same effect, same bound). */
  async applyAsync(writes: readonly HintWrite[]): Promise<void> {
    if (writes.length === 0) return
    const prepared = writes.map(prepare)
    try {
      this.#count = await this.#db.transaction(() => this.#applyInTransaction(prepared))
    } catch (error) {
      if (error instanceof GossamerError) throw error
      throw asStorageError(error, `writing ${writes.length} hint change(s)`)
    }
  }

  /** Every stored hint, in (replica, key) order; undecodable entries are skipped and counted. */
  list(): Hint[] {
    const hints: Hint[] = []
    for (const { key, value } of this.#db.getRange({})) {
      const hint = decodeHint(key, value)
      if (hint === undefined) this.#corruptCount += 1
      else hints.push(hint)
    }
    return hints
  }

  /** Waits for pending writes and closes the environment. */
  async close(): Promise<void> {
    await this.#db.close()
  }

  /** Runs inside the write transaction; returns the new count. Throws before writing if full. */
  #applyInTransaction(prepared: readonly PreparedHintWrite[]): number {
    // Simulate the whole batch first, so a full store refuses it before any write happens.
    const present = new Map<string, Bytes | undefined>()
    const current = (p: PreparedHintWrite): Bytes | undefined => {
      const id = p.keyBytes.toString('latin1')
      if (!present.has(id)) present.set(id, this.#db.get(p.keyBytes))
      return present.get(id)
    }
    let count = this.#count
    const effects: Array<() => void> = []
    for (const p of prepared) {
      const stored = current(p)
      const id = p.keyBytes.toString('latin1')
      if (p.write.op === 'put') {
        if (stored === undefined) count += 1
        present.set(id, p.encoded)
        effects.push(() => this.#db.putSync(p.keyBytes, p.encoded!))
      } else if (stored !== undefined && isVersion(stored, p.write)) {
        count -= 1
        present.set(id, undefined)
        effects.push(() => this.#db.removeSync(p.keyBytes))
      }
    }
    if (count > this.maxHints && count > this.#count) {
      throw new GossamerError(
        'GOSSAMER_ERR_HINT_STORE_FULL',
        `hint store holds ${this.#count} hints; this batch would exceed maxHints ${this.maxHints}`,
      )
    }
    for (const effect of effects) effect()
    return count
  }
}

interface PreparedHintWrite {
  readonly write: HintWrite
  readonly keyBytes: Bytes
  readonly encoded: Bytes | undefined
}

/** Largest LMDB key (lmdb-js's build limit), the same as the data engine's. */
const HINT_KEY_BYTES_MAX = 1978

function prepare(write: HintWrite): PreparedHintWrite {
  const [replica, key] =
    write.op === 'put'
      ? [write.hint.intendedReplica, write.hint.key]
      : [write.intendedReplica, write.key]
  const keyBytes = Buffer.from(hintStoreKey(replica, key), 'utf8')
  if (keyBytes.length > HINT_KEY_BYTES_MAX) {
    throw new GossamerError(
      'GOSSAMER_ERR_KEY_TOO_LARGE',
      `hint key for replica ${replica} is ${keyBytes.length} bytes, over ${HINT_KEY_BYTES_MAX}`,
    )
  }
  if (write.op === 'remove') return { write, keyBytes, encoded: undefined }
  const encoded = encodeRecord(write.hint.record)
  return {
    write,
    keyBytes,
    encoded: Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength),
  }
}

/** True when the stored hint's version equals the remove's (a newer hint is kept). */
function isVersion(stored: Bytes, write: Extract<HintWrite, { op: 'remove' }>): boolean {
  try {
    return compareVersions(decodeRecord(stored).version, write.version) === 0
  } catch {
    return true // a corrupt hint for this key is removed rather than kept forever
  }
}

/** Parses `<replica length>:<replica><key>` and decodes the record; undefined if malformed. */
export function decodeHint(keyBytes: Uint8Array, value: Uint8Array): Hint | undefined {
  const text = Buffer.from(keyBytes.buffer, keyBytes.byteOffset, keyBytes.byteLength).toString(
    'utf8',
  )
  const match = /^(\d{1,6}):/.exec(text)
  if (match === null) return undefined
  const replicaLength = Number(match[1])
  const rest = text.slice(match[0].length)
  if (replicaLength < 1 || replicaLength >= rest.length) return undefined
  const intendedReplica = rest.slice(0, replicaLength)
  const key = rest.slice(replicaLength)
  if (hintStoreKey(intendedReplica, key) !== text) return undefined
  try {
    return { intendedReplica, key, record: decodeRecord(value, key) }
  } catch {
    return undefined
  }
}
