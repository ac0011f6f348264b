/**
 * Versions: a hybrid logical clock timestamp (wall milliseconds + logical counter) plus the
 * writing node's id as a tie-break. Versions are totally ordered; last-writer-wins compares them.
 * See architecture §4. Pure: no clock reads here (the clock lives in `hlc.ts`, injected).
 */
export interface Version {
  /** Physical component, milliseconds since the Unix epoch, as seen by the HLC. */
  readonly wallMs: number
  /** Logical counter that orders events within one `wallMs` (0..0xffff_ffff). */
  readonly logical: number
  /** Id of the node that issued the version; breaks ties between equal timestamps. */
  readonly nodeId: string
}

/** Total order: negative if a < b, 0 if equal, positive if a > b. */
export function compareVersions(a: Version, b: Version): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  if (a.nodeId === b.nodeId) return 0
  return a.nodeId < b.nodeId ? -1 : 1
}

/**
 * Text form used in ETags and JSON: `<wallMs>-<logical>-<nodeId>`, e.g. `1764133200000-3-n1`.
 * The node id may itself contain '-', so parsing splits on the first two only.
 */
export function formatVersion(v: Version): string {
  return `${v.wallMs}-${v.logical}-${v.nodeId}`
}

/** Parses `formatVersion` output; returns undefined for anything malformed. */
export function parseVersion(text: string): Version | undefined {
  const m = /^(\d{1,16})-(\d{1,10})-(.+)$/.exec(text)
  if (m === null) return undefined
  const wallMs = Number(m[1])
  const logical = Number(m[2])
  if (!Number.isSafeInteger(wallMs) || logical > 0xffff_ffff) return undefined
  return { wallMs, logical, nodeId: m[3]! }
}

/** Largest logical counter a version may carry; the HLC moves `wallMs` on past it. */
export const VERSION_LOGICAL_MAX = 0xffff_ffff

/**
 * True when `v` is a well-formed version: `wallMs` a non-negative safe integer, `logical` an
 * integer in 0..VERSION_LOGICAL_MAX, `nodeId` a non-empty string. Decoders use it to drop bad
 * input instead of letting it reach the clock or the store.
 */
export function isValidVersion(v: Version): boolean {
  return (
    Number.isSafeInteger(v.wallMs) &&
    v.wallMs >= 0 &&
    Number.isInteger(v.logical) &&
    v.logical >= 0 &&
    v.logical <= VERSION_LOGICAL_MAX &&
    typeof v.nodeId === 'string' &&
    v.nodeId.length > 0
  )
}
