/**
 * Configuration of the memberlist core: plain, printable data with memberlist's presets
 * (`lan`, `wan`, `local`, reference §7) plus a tight `sim` preset for simulations. Each field
 * names the formula it feeds (see `formulas.ts`). Driver-only settings (bind address, label,
 * keyring, compression) live in the driver's config; the core only needs
 * `packetOverheadBytes` to keep piggy-backed packets within `udpBufferSize`.
 */

/** Settings of the SWIM + Lifeguard core. All durations are milliseconds. */
export interface MemberlistConfig {
  /** Unique node name. Required. */
  readonly name: string
  /** Advertised IP (4 or 16 bytes) put in our alive messages and ping Source fields. */
  readonly advertiseAddr: Uint8Array
  /** Advertised port (UDP and TCP share it). @default 7946 */
  readonly advertisePort: number
  /** Protocol version we speak (PCur). Vsn advertised is [1, 5, protocolVersion, d…]. @default 2 */
  readonly protocolVersion: number
  /** Delegate protocol min / max / current (DMin, DMax, DCur). @default 0 */
  readonly delegateProtocolMin: number
  readonly delegateProtocolMax: number
  readonly delegateProtocolVersion: number
  /** Deadline of a TCP exchange (push/pull, reliable user message). @default 10_000 */
  readonly tcpTimeoutMs: number
  /** Relays asked for an indirect probe. @default 3 */
  readonly indirectChecks: number
  /** Broadcast retransmits = retransmitMult × ceil(log10(n + 1)). @default 4 */
  readonly retransmitMult: number
  /** Suspicion min = suspicionMult × max(1, log10(n)) × probeIntervalMs; k = mult − 2. @default 4 */
  readonly suspicionMult: number
  /** Suspicion max = suspicionMaxTimeoutMult × min. @default 6 */
  readonly suspicionMaxTimeoutMult: number
  /** Periodic push/pull, scaled by pushPullScale(interval, n); 0 disables. @default 30_000 */
  readonly pushPullIntervalMs: number
  /** Wait for a direct ack before indirect probes (not scaled by awareness). @default 500 */
  readonly probeTimeoutMs: number
  /** Probe period; a probe's deadline is probeIntervalMs × (healthScore + 1). @default 1_000 */
  readonly probeIntervalMs: number
  /** Disable the TCP fallback ping. @default false */
  readonly disableTcpPings: boolean
  /** Awareness score ranges over [0, awarenessMaxMultiplier − 1]. @default 8 */
  readonly awarenessMaxMultiplier: number
  /** Nodes gossiped to per gossip round; 0 disables gossip. @default 3 */
  readonly gossipNodes: number
  /** Gossip round period. @default 200 */
  readonly gossipIntervalMs: number
  /** Dead nodes still gossiped to, and kept before reaping, this long. @default 30_000 */
  readonly gossipToTheDeadTimeMs: number
  /** Packet budget for piggy-backing and gossip. @default 1400 */
  readonly udpBufferSize: number
  /** Label + encryption overhead the driver adds to each packet (reference §1.4). @default 0 */
  readonly packetOverheadBytes: number
  /** A dead node's name may be taken by a new address after this; 0 = never. @default 0 */
  readonly deadNodeReclaimTimeMs: number
  /** Bound on queued memberlist broadcasts; the most-sent are dropped first. @default 4096 */
  readonly broadcastQueueMax: number
  /** Bound on pending ack handlers (probes, relays). @default 4096 */
  readonly ackHandlersMax: number
}

/** Config fields that have defaults (everything except the node's identity). */
export type MemberlistTimings = Omit<MemberlistConfig, 'name' | 'advertiseAddr' | 'advertisePort'>

/** memberlist's DefaultLANConfig numbers. */
export const lanPreset: MemberlistTimings = Object.freeze({
  protocolVersion: 2,
  delegateProtocolMin: 0,
  delegateProtocolMax: 0,
  delegateProtocolVersion: 0,
  tcpTimeoutMs: 10_000, // timeout for establishing a stream connection
  indirectChecks: 3, // use 3 nodes for the indirect ping
  retransmitMult: 4, // retransmit a message 4 * log(N+1) nodes
  suspicionMult: 4, // suspect a node for 4 * log(N+1) * interval
  suspicionMaxTimeoutMult: 6, // for 10k nodes this gives a max timeout of 120 s
  pushPullIntervalMs: 30_000, // low frequency
  probeTimeoutMs: 500, // reasonable RTT time for LAN
  probeIntervalMs: 1_000, // failure detection is 1 s
  disableTcpPings: false, // TCP pings are safe, even with mixed versions
  awarenessMaxMultiplier: 8, // probe interval backs off to 8 seconds
  gossipNodes: 3, // gossip to 3 nodes
  gossipIntervalMs: 200, // gossip more rapidly
  gossipToTheDeadTimeMs: 30_000, // same as push/pull
  udpBufferSize: 1400,
  packetOverheadBytes: 0,
  deadNodeReclaimTimeMs: 0,
  broadcastQueueMax: 4096,
  ackHandlersMax: 4096,
})

/** memberlist's DefaultWANConfig numbers. */
export const wanPreset: MemberlistTimings = Object.freeze({
  ...lanPreset,
  tcpTimeoutMs: 30_000,
  suspicionMult: 6,
  pushPullIntervalMs: 60_000,
  probeTimeoutMs: 3_000,
  probeIntervalMs: 5_000,
  gossipNodes: 4, // gossip to 4 nodes
  gossipIntervalMs: 500, // log(N) * interval ≈ 5 s of propagation for 10k nodes
  gossipToTheDeadTimeMs: 60_000,
})

/** memberlist's DefaultLocalConfig numbers (loopback). */
export const localPreset: MemberlistTimings = Object.freeze({
  ...lanPreset,
  tcpTimeoutMs: 1_000,
  indirectChecks: 1,
  retransmitMult: 2,
  suspicionMult: 3,
  pushPullIntervalMs: 15_000,
  probeTimeoutMs: 200,
  probeIntervalMs: 1_000,
  gossipIntervalMs: 100,
  gossipToTheDeadTimeMs: 15_000,
})

/**
 * Simulation preset: LAN's ratios and multipliers, so simulations exercise the same formulas,
 * with a shorter TCP timeout. Virtual time is free, so keeping LAN's periods costs nothing.
 */
export const simPreset: MemberlistTimings = Object.freeze({
  ...lanPreset,
  tcpTimeoutMs: 2_000,
})

/** The named presets. */
export const presets = Object.freeze({
  lan: lanPreset,
  wan: wanPreset,
  local: localPreset,
  sim: simPreset,
})

/** A preset name. */
export type PresetName = keyof typeof presets

/** Identity plus any overrides. */
export type MemberlistConfigInput = Pick<MemberlistConfig, 'name'> &
  Partial<Omit<MemberlistConfig, 'name'>>

/** Thrown by {@link resolveConfig} with every problem found. */
export class MemberlistConfigError extends Error {
  /** Stable error code. */
  readonly code = 'MEMBERLIST_ERR_CONFIG_INVALID'
  /** One sentence per problem. */
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`invalid memberlist config: ${problems.join('; ')}`)
    this.name = 'MemberlistConfigError'
    this.problems = problems
  }
}

const POSITIVE_MS: readonly (keyof MemberlistTimings)[] = [
  'tcpTimeoutMs',
  'probeTimeoutMs',
  'probeIntervalMs',
  'gossipIntervalMs',
]
const NON_NEGATIVE_INTS: readonly (keyof MemberlistTimings)[] = [
  'indirectChecks',
  'retransmitMult',
  'gossipNodes',
  'pushPullIntervalMs',
  'gossipToTheDeadTimeMs',
  'packetOverheadBytes',
  'deadNodeReclaimTimeMs',
  'delegateProtocolMin',
  'delegateProtocolMax',
  'delegateProtocolVersion',
]

/** Fills defaults from `preset`, validates every field, and returns a frozen config. */
export function resolveConfig(
  input: MemberlistConfigInput,
  preset: PresetName = 'lan',
): Readonly<MemberlistConfig> {
  const config: MemberlistConfig = {
    ...presets[preset],
    advertiseAddr: new Uint8Array([127, 0, 0, 1]),
    advertisePort: 7946,
    ...input,
  }
  const problems = validateConfig(config)
  if (problems.length > 0) throw new MemberlistConfigError(problems)
  return Object.freeze(config)
}

/** Returns one sentence per invalid field or relationship (empty when valid). */
export function validateConfig(config: MemberlistConfig): string[] {
  const problems: string[] = []
  const record = config as unknown as Record<string, unknown>
  if (typeof config.name !== 'string' || config.name.length === 0) problems.push('name is empty')
  if (config.advertiseAddr.length !== 4 && config.advertiseAddr.length !== 16) {
    problems.push('advertiseAddr must be 4 or 16 bytes')
  }
  if (!isIntIn(config.advertisePort, 0, 65535)) problems.push('advertisePort out of range')
  if (!isIntIn(config.protocolVersion, 1, 5)) problems.push('protocolVersion must be 1..5')
  for (const key of POSITIVE_MS) {
    if (!isIntIn(record[key], 1, Number.MAX_SAFE_INTEGER)) problems.push(`${key} must be > 0`)
  }
  for (const key of NON_NEGATIVE_INTS) {
    if (!isIntIn(record[key], 0, Number.MAX_SAFE_INTEGER)) problems.push(`${key} must be >= 0`)
  }
  if (!isIntIn(config.suspicionMult, 1, 1000)) problems.push('suspicionMult must be >= 1')
  if (!isIntIn(config.suspicionMaxTimeoutMult, 1, 1000)) {
    problems.push('suspicionMaxTimeoutMult must be >= 1')
  }
  if (!isIntIn(config.awarenessMaxMultiplier, 1, 1000)) {
    problems.push('awarenessMaxMultiplier must be >= 1')
  }
  if (config.probeTimeoutMs > config.probeIntervalMs) {
    problems.push('probeTimeoutMs must not exceed probeIntervalMs')
  }
  if (!isIntIn(config.udpBufferSize, 64, 65_507)) problems.push('udpBufferSize must be 64..65507')
  if (!isIntIn(config.broadcastQueueMax, 1, 1_000_000)) problems.push('broadcastQueueMax invalid')
  if (!isIntIn(config.ackHandlersMax, 1, 1_000_000)) problems.push('ackHandlersMax invalid')
  return problems
}

function isIntIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
}
