/**
 * Size limits for wire input, from memberlist HEAD (shared/reference/memberlist-wire-protocol.md
 * §1.4). 0.2.2 enforces only the encrypted-payload limit; HEAD adds the others. We enforce all of
 * them on input and keep our own output well under them.
 */

/** Limits applied while decoding streams and compressed payloads. */
export interface WireLimits {
  /** Largest encrypted stream payload (the L of `[10][L u32]`). @default 20 MiB */
  readonly maxEncryptedBytes: number
  /** Largest node count in a push/pull header. @default 1_048_576 */
  readonly maxPushPullNodes: number
  /** Largest push/pull user state. @default 20 MiB */
  readonly maxUserStateBytes: number
  /** Largest reliable (stream) user message. @default 20 MiB */
  readonly maxUserMsgBytes: number
  /** Largest LZW output of one compressed message; empty output is also refused. @default 40 MiB */
  readonly maxDecompressedBytes: number
  /**
   * Largest plain (unencrypted, uncompressed) stream frame we buffer. Go has no such limit (only
   * its TCP timeout); ours bounds memory per connection. @default 64 MiB
   */
  readonly maxPlainFrameBytes: number
}

const MiB = 1024 * 1024

export const defaultWireLimits: WireLimits = {
  maxEncryptedBytes: 20 * MiB,
  maxPushPullNodes: 1_048_576,
  maxUserStateBytes: 20 * MiB,
  maxUserMsgBytes: 20 * MiB,
  maxDecompressedBytes: 40 * MiB,
  maxPlainFrameBytes: 64 * MiB,
}

/** Node metadata limit (Go `MetaMaxSize`); the codec does not enforce it, the state machine does. */
export const metaMaxSize = 512

/** Largest label (Go `LabelMaxSize`). */
export const labelMaxSize = 255

/** Largest UDP datagram we read (Go's read buffer). */
export const maxDatagramBytes = 65_536
