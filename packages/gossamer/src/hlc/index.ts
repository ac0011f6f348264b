/**
 * @packageDocumentation
 * Versions and the hybrid logical clock that issues them (architecture §4).
 *
 * @example
 * ```ts
 * const clock = new HybridLogicalClock({ nodeId: 'n1', wallClockMs: () => Date.now() })
 * const version = clock.now()
 * formatVersion(version) // '1764133200000-0-n1'
 * ```
 */
export {
  HLC_MAX_SKEW_MS_DEFAULT,
  HlcSkewError,
  HybridLogicalClock,
  type HybridLogicalClockOptions,
} from './hlc.ts'
export {
  compareVersions,
  formatVersion,
  isValidVersion,
  parseVersion,
  VERSION_LOGICAL_MAX,
  type Version,
} from './version.ts'
