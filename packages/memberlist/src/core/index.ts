/**
 * @packageDocumentation
 * The sans-I/O SWIM + Lifeguard core of `@gossamer/memberlist`. Drivers (Node sockets, the
 * simulator) construct a {@link MemberlistCore}, feed it inputs and act on its outputs; see
 * `memberlist-core.ts` for the driver loop and `ports.ts` for the output shapes.
 *
 * @example
 * ```ts
 * const core = new MemberlistCore({ clock, random }, resolveConfig({ name: 'a' }, 'lan'))
 * core.join([{ ip: Uint8Array.of(10, 0, 0, 2), port: 7946 }])
 * for (const out of core.takeOutputs()) driver.handle(out)
 * ```
 */

export { Awareness } from './awareness.ts'
export { type Broadcast, BroadcastQueue, type BroadcastQueueOptions } from './broadcast-queue.ts'
export {
  lanPreset,
  localPreset,
  type MemberlistConfig,
  MemberlistConfigError,
  type MemberlistConfigInput,
  type MemberlistTimings,
  type PresetName,
  presets,
  resolveConfig,
  simPreset,
  validateConfig,
  wanPreset,
} from './config.ts'
export * from './formulas.ts'
export { META_MAX_BYTES, MemberlistCore, MetaTooLargeError } from './memberlist-core.ts'
export { estimateMessageBytes } from './message-size.ts'
export { createMetrics, type MemberlistMetrics } from './metrics.ts'
export * from './ports.ts'
