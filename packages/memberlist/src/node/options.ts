/**
 * Options of the public `Memberlist` (the Node driver): identity and sockets, the preset and
 * timing overrides handed to the core, and the wire settings only the driver applies
 * (encryption keys, label, compression, verification switches). Mirrors memberlist's `Config`
 * field by field where one exists; every default is memberlist's.
 */

import type { MemberlistTimings, PresetName } from '../core/config.ts'
import { encryptOverhead } from '../wire/crypto.ts'
import { Keyring } from '../wire/keyring.ts'
import { labelOverhead } from '../wire/label.ts'
import { labelMaxSize } from '../wire/limits.ts'

/** Where the driver sends its diagnostics. All optional; the default logs nothing. */
export interface MemberlistLogger {
  debug?(message: string): void
  warn?(message: string): void
}

/** Options for `Memberlist.create`. */
export interface MemberlistOptions {
  /** Unique node name in the cluster. Required. */
  readonly name: string
  /** Address to bind UDP and TCP on. @default '0.0.0.0' */
  readonly bindAddr?: string
  /** Port for both UDP and TCP; 0 picks a free one (the same for both). @default 7946 */
  readonly bindPort?: number
  /**
   * Address advertised to peers. @default bindAddr, or, when binding to 0.0.0.0 / ::, the
   * first non-internal IPv4 address of this host (127.0.0.1 if none)
   */
  readonly advertiseAddr?: string
  /** Port advertised to peers. @default the bound port */
  readonly advertisePort?: number
  /** memberlist preset whose numbers are used. @default 'lan' */
  readonly preset?: Exclude<PresetName, 'sim'>
  /** Overrides of individual timings and protocol settings (see core/config.ts). */
  readonly timings?: Partial<MemberlistTimings>
  /** Primary AES key (16, 24 or 32 bytes); turns encryption on. Go: `SecretKey`. */
  readonly secretKey?: Uint8Array
  /** More keys accepted for decryption (key rotation). Go: `Keyring`. */
  readonly keys?: readonly Uint8Array[]
  /** Cluster label (memberlist >= 0.3.0; leave empty to talk to 0.2.2 nodes). @default '' */
  readonly label?: string
  /** Accept unlabelled input as if it carried our label. @default false */
  readonly skipInboundLabelCheck?: boolean
  /** Refuse unencrypted input when a key is installed. @default true */
  readonly gossipVerifyIncoming?: boolean
  /** Encrypt output when a key is installed. @default true */
  readonly gossipVerifyOutgoing?: boolean
  /** LZW-compress packets (when smaller) and streams. @default true */
  readonly enableCompression?: boolean
  /** Bound on concurrent inbound TCP exchanges; more are refused. @default 128 */
  readonly maxInboundStreams?: number
  /**
   * Bound on the bytes buffered by all inbound streams whose frame is still incomplete; a
   * stream that would exceed it is dropped. @default 134_217_728 (128 MiB)
   */
  readonly maxInboundBufferedBytes?: number
  readonly logger?: MemberlistLogger
}

/** Thrown for invalid options, with a stable code. */
export class MemberlistOptionsError extends Error {
  readonly code = 'MEMBERLIST_ERR_CONFIG_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'MemberlistOptionsError'
  }
}

/** Options with defaults applied and the keyring built. */
export interface ResolvedOptions {
  readonly name: string
  readonly bindAddr: string
  readonly bindPort: number
  readonly advertiseAddr: string | undefined
  readonly advertisePort: number | undefined
  readonly preset: Exclude<PresetName, 'sim'>
  readonly timings: Partial<MemberlistTimings>
  readonly keyring: Keyring
  readonly label: string
  readonly skipInboundLabelCheck: boolean
  readonly gossipVerifyIncoming: boolean
  readonly gossipVerifyOutgoing: boolean
  readonly enableCompression: boolean
  readonly maxInboundStreams: number
  readonly maxInboundBufferedBytes: number
  readonly logger: MemberlistLogger
}

/** Applies defaults and validates what the core's own validation does not cover. */
export function resolveOptions(options: MemberlistOptions): ResolvedOptions {
  const keys = [
    ...(options.secretKey === undefined ? [] : [options.secretKey]),
    ...(options.keys ?? []),
  ]
  const built = Keyring.create({ keys })
  if (!built.ok) throw new MemberlistOptionsError(built.message)
  const label = options.label ?? ''
  if (Buffer.byteLength(label) > labelMaxSize) {
    throw new MemberlistOptionsError(`label is longer than ${labelMaxSize} bytes`)
  }
  const bindPort = options.bindPort ?? 7946
  if (!Number.isInteger(bindPort) || bindPort < 0 || bindPort > 65535) {
    throw new MemberlistOptionsError(`bindPort ${bindPort} is out of range`)
  }
  return {
    name: options.name,
    bindAddr: options.bindAddr ?? '0.0.0.0',
    bindPort,
    advertiseAddr: options.advertiseAddr,
    advertisePort: options.advertisePort,
    preset: options.preset ?? 'lan',
    timings: options.timings ?? {},
    keyring: built.keyring,
    label,
    skipInboundLabelCheck: options.skipInboundLabelCheck ?? false,
    gossipVerifyIncoming: options.gossipVerifyIncoming ?? true,
    gossipVerifyOutgoing: options.gossipVerifyOutgoing ?? true,
    enableCompression: options.enableCompression ?? true,
    maxInboundStreams: options.maxInboundStreams ?? 128,
    maxInboundBufferedBytes: options.maxInboundBufferedBytes ?? 128 * 1024 * 1024,
    logger: options.logger ?? {},
  }
}

/**
 * Bytes the driver adds around every packet, which the core subtracts from its UDP budget
 * (reference §1.4): the label header, plus encryption overhead when a key is installed.
 */
export function packetOverheadBytes(options: ResolvedOptions, protocolVersion: number): number {
  const encrypting = options.keyring.enabled && options.gossipVerifyOutgoing
  const encryption = encrypting ? encryptOverhead(protocolVersion < 2 ? 0 : 1) : 0
  return labelOverhead(options.label) + encryption
}
