/**
 * The typed failure every wire decoder returns instead of throwing. Bad input from the network
 * is an expected failure (house style): it is dropped and counted, so each failure carries a
 * stable `reason` code, good as a metric label, plus a human `detail` for a debug log line.
 */

/** Stable reason codes for dropped wire input. Append only. */
export type WireFailureReason =
  | 'empty'
  | 'truncated'
  | 'malformed-msgpack'
  | 'bad-field'
  | 'unknown-type'
  | 'unsupported-nesting'
  | 'too-large'
  | 'label-malformed'
  | 'label-mismatch'
  | 'label-double'
  | 'decrypt-failed'
  | 'encryption-required'
  | 'encryption-not-configured'
  | 'crc-mismatch'
  | 'decompress-failed'
  | 'unknown-compression'
  | 'done'

/** A decoder's failure value. */
export interface WireFailure {
  readonly ok: false
  readonly reason: WireFailureReason
  readonly detail: string
}

/** Builds a failure value. */
export function wireFailure(reason: WireFailureReason, detail: string): WireFailure {
  return { ok: false, reason, detail }
}
