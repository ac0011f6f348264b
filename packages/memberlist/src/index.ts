/**
 * @gossamer/memberlist — SWIM + Lifeguard membership, wire-compatible with hashicorp/memberlist.
 *
 * The public surface: {@link Memberlist} (a member on real sockets), its options, delegates,
 * events and errors, the config presets, and the keyring. The sans-I/O core and the wire codec
 * are exported too, for simulators and tools that drive the protocol themselves.
 */

export {
  lanPreset,
  localPreset,
  type MemberlistConfig,
  MemberlistConfigError,
  type MemberlistTimings,
  type PresetName,
  presets,
  resolveConfig,
  wanPreset,
} from './core/config.ts'
export { META_MAX_BYTES, MemberlistCore } from './core/memberlist-core.ts'
export type { MemberlistMetrics } from './core/metrics.ts'
export type {
  Address,
  Clock,
  CoreComponents,
  CoreOutput,
  Delegates,
  MemberEvent,
  NodeInfo,
  Random,
  StreamResult,
} from './core/ports.ts'
export { nodeAddress } from './node/addresses.ts'
export {
  type Member,
  Memberlist,
  MemberlistError,
  type MemberlistErrorCode,
  type MemberlistEvents,
} from './node/memberlist.ts'
export {
  type MemberlistLogger,
  type MemberlistOptions,
  MemberlistOptionsError,
} from './node/options.ts'
export { Keyring, type KeyringErrorCode, type KeyringResult } from './wire/keyring.ts'
export type { NodeStateName } from './wire/messages.ts'
