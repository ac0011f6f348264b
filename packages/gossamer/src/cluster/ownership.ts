/**
 * The ownership set as a state-based CRDT (architecture §5: liveness is not ownership).
 *
 * The state maps each node name to an entry `{ state, version }` where `state` is `member`,
 * `leaving` or `removed` and `version` is a per-entry Lamport counter. Every local change writes
 * `version = old version + 1`. Entries are ordered lexicographically by (version, state rank)
 * with member < leaving < removed, so concurrent changes that reach the same version resolve to
 * the "more final" state (an operator's removal beats a concurrent re-join at the same version).
 * Merge takes, per name, the greater entry: a join-semilattice (commutative, associative,
 * idempotent), so states can be exchanged in any order, any number of times — the original
 * design's "broadcast every change, merge remote state", used for memberlist delegate broadcasts
 * (a one-entry state is a delta) and push/pull (the whole state).
 *
 * Names are never deleted: `removed` is a tombstone, so a stale broadcast cannot resurrect a
 * removed node. A removed node that comes back must join again, which bumps its version.
 *
 * Wire format (format version 1, all integers big-endian):
 * `[u8 format=1][u16 count]` then `count` × `[u8 nameLength][name UTF-8][u8 state][u32 versionHigh][u32 versionLow]`,
 * entries sorted by name. Decoding is total: malformed input yields `{ ok: false }`, never throws.
 */

/** Lifecycle of an owner. `leaving` still holds data until its partitions are handed off. */
export type OwnershipState = 'member' | 'leaving' | 'removed'

/** One node's ownership entry. */
export interface OwnershipEntry {
  readonly state: OwnershipState
  /** Per-entry Lamport counter; every change increments it. Safe integer >= 0. */
  readonly version: number
}

/** The CRDT state: node name → entry. Treated as immutable; operations return new maps. */
export type OwnershipSet = ReadonlyMap<string, OwnershipEntry>

/** Decoding result: a value or a reason; decoders never throw. */
export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string }

/** Current encoding format of the ownership set. */
export const OWNERSHIP_FORMAT_VERSION = 1

/** Most entries one encoded state may hold (bounds decode work from a hostile peer). */
export const OWNERSHIP_MAX_ENTRIES = 4096

/** Longest node name, in UTF-8 bytes (memberlist names fit comfortably). */
export const NODE_NAME_MAX_BYTES = 255

const STATE_RANK: Readonly<Record<OwnershipState, number>> = { member: 0, leaving: 1, removed: 2 }
const STATES: readonly OwnershipState[] = ['member', 'leaving', 'removed']

/** The empty ownership set. */
export function emptyOwnership(): OwnershipSet {
  return new Map()
}

/** Total order of entries used by merge: by version, then by state rank. */
export function compareEntries(a: OwnershipEntry, b: OwnershipEntry): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1
  return STATE_RANK[a.state] - STATE_RANK[b.state]
}

/** Join of two states: per name, the greater entry. Commutative, associative, idempotent. */
export function mergeOwnership(a: OwnershipSet, b: OwnershipSet): OwnershipSet {
  const out = new Map(a)
  for (const [name, entry] of b) {
    const mine = out.get(name)
    if (mine === undefined || compareEntries(entry, mine) > 0) out.set(name, entry)
  }
  return sortedByName(out)
}

/** True when merging `remote` into `local` would change `local` (worth re-broadcasting). */
export function wouldChange(local: OwnershipSet, remote: OwnershipSet): boolean {
  for (const [name, entry] of remote) {
    const mine = local.get(name)
    if (mine === undefined || compareEntries(entry, mine) > 0) return true
  }
  return false
}

function sortedByName(map: Map<string, OwnershipEntry>): OwnershipSet {
  const names = [...map.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
  return new Map(names.map((name) => [name, map.get(name)!]))
}

function transition(set: OwnershipSet, name: string, state: OwnershipState): OwnershipSet {
  const version = (set.get(name)?.version ?? 0) + 1
  return mergeOwnership(set, new Map([[name, { state, version }]]))
}

/** `name` joins (or re-joins) the ownership set. */
export function joinOwnership(set: OwnershipSet, name: string): OwnershipSet {
  return transition(set, name, 'member')
}

/** `name` leaves gracefully: it keeps its data until its partitions are handed off. */
export function leaveOwnership(set: OwnershipSet, name: string): OwnershipSet {
  return transition(set, name, 'leaving')
}

/** `name` is removed (handoff done, operator removal, or dead past the reclaim time). */
export function removeOwnership(set: OwnershipSet, name: string): OwnershipSet {
  return transition(set, name, 'removed')
}

/** Sorted names in a given state; `members(set)` is the input of `computePlacement`. */
export function namesInState(set: OwnershipSet, state: OwnershipState): string[] {
  return [...set].filter(([, entry]) => entry.state === state).map(([name]) => name)
}

/** Sorted names of nodes that are full members (the target ownership set for placement). */
export function members(set: OwnershipSet): string[] {
  return namesInState(set, 'member')
}

/**
 * Whether `name` is an owner now: a member, or leaving (a leaver keeps its copies until its
 * receivers are done). Removed and unknown names are not.
 */
export function isOwnerIn(set: OwnershipSet, name: string): boolean {
  const state = set.get(name)?.state
  return state === 'member' || state === 'leaving'
}

/** Just the entries of `names` (a delta, e.g. to broadcast one change). */
export function pickOwnership(set: OwnershipSet, names: Iterable<string>): OwnershipSet {
  const out = new Map<string, OwnershipEntry>()
  for (const name of names) {
    const entry = set.get(name)
    if (entry !== undefined) out.set(name, entry)
  }
  return sortedByName(out)
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Encodes a state (whole or delta). Throws `RangeError` for more than `OWNERSHIP_MAX_ENTRIES`
 * entries or a name over `NODE_NAME_MAX_BYTES` — local invariants, never remote input.
 */
export function encodeOwnership(set: OwnershipSet): Uint8Array {
  if (set.size > OWNERSHIP_MAX_ENTRIES) throw new RangeError('ownership set too large')
  const sorted = sortedByName(new Map(set))
  const names = [...sorted.keys()].map((name) => utf8Encoder.encode(name))
  const size = 3 + names.reduce((sum, bytes) => sum + 1 + bytes.length + 9, 0)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = OWNERSHIP_FORMAT_VERSION
  view.setUint16(1, sorted.size)
  let at = 3
  let index = 0
  for (const entry of sorted.values()) {
    const name = names[index++]!
    if (name.length === 0 || name.length > NODE_NAME_MAX_BYTES) throw new RangeError('bad name')
    out[at] = name.length
    out.set(name, at + 1)
    at += 1 + name.length
    out[at] = STATE_RANK[entry.state]
    view.setUint32(at + 1, Math.floor(entry.version / 2 ** 32))
    view.setUint32(at + 5, entry.version % 2 ** 32)
    at += 9
  }
  return out
}

/** Decodes `encodeOwnership` output. Duplicate names are merged. Never throws. */
export function decodeOwnership(bytes: Uint8Array): DecodeResult<OwnershipSet> {
  if (bytes.length < 3) return { ok: false, reason: 'short' }
  if (bytes[0] !== OWNERSHIP_FORMAT_VERSION) return { ok: false, reason: 'format version' }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint16(1)
  if (count > OWNERSHIP_MAX_ENTRIES) return { ok: false, reason: 'too many entries' }
  const out = new Map<string, OwnershipEntry>()
  let at = 3
  for (let i = 0; i < count; i++) {
    const nameLength = bytes[at]
    if (nameLength === undefined || nameLength === 0) return { ok: false, reason: 'name length' }
    if (at + 1 + nameLength + 9 > bytes.length) return { ok: false, reason: 'truncated' }
    const name = decodeUtf8(bytes.subarray(at + 1, at + 1 + nameLength))
    if (name === undefined) return { ok: false, reason: 'name not UTF-8' }
    at += 1 + nameLength
    const state = STATES[bytes[at]!]
    const version = view.getUint32(at + 1) * 2 ** 32 + view.getUint32(at + 5)
    if (state === undefined) return { ok: false, reason: 'state' }
    if (!Number.isSafeInteger(version)) return { ok: false, reason: 'version' }
    at += 9
    const entry = { state, version }
    const seen = out.get(name)
    if (seen === undefined || compareEntries(entry, seen) > 0) out.set(name, entry)
  }
  if (at !== bytes.length) return { ok: false, reason: 'trailing bytes' }
  return { ok: true, value: sortedByName(out) }
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes)
  } catch {
    return undefined
  }
}
