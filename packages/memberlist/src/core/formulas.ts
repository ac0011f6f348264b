/**
 * The timing formulas of memberlist (`util.go`, `suspicion.go`, `awareness.go`) and the
 * Lifeguard paper, as pure named functions. Reference §6.4 (suspicion), §6.5 (awareness),
 * §6.6 (retransmit limit) and §6.7 (push/pull scaling). Table tests pin them to Go's numbers.
 */

/**
 * Minimum suspicion timeout: suspicionMult × max(1, log10(max(1, n))) × probeInterval. Go
 * truncates the node scale to thousandths before multiplying (`time.Duration(nodeScale*1000)`).
 */
export function suspicionTimeoutMs(options: {
  suspicionMult: number
  nodeCount: number
  probeIntervalMs: number
}): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, options.nodeCount)))
  return (options.suspicionMult * Math.floor(nodeScale * 1000) * options.probeIntervalMs) / 1000
}

/** Independent confirmations wanted before the suspicion timeout shrinks to its minimum. */
export function suspicionConfirmationsWanted(suspicionMult: number, nodeCount: number): number {
  const k = suspicionMult - 2
  // Too few other nodes to ever confirm: fall back to the plain minimum timeout.
  return nodeCount - 2 < k ? 0 : Math.max(0, k)
}

/**
 * Time left on a suspicion timer after `confirmations` of the `wanted` confirmations, given
 * `elapsedMs` since it started (Go's remainingSuspicionTime). The total shrinks
 * logarithmically from max to min; it is floored to whole ms and never below min. May be <= 0,
 * meaning the timer should fire now.
 */
export function remainingSuspicionMs(options: {
  confirmations: number
  wanted: number
  elapsedMs: number
  minMs: number
  maxMs: number
}): number {
  const { confirmations, wanted, elapsedMs, minMs, maxMs } = options
  const fraction = wanted <= 0 ? 1 : Math.log(confirmations + 1) / Math.log(wanted + 1)
  const rawMs = maxMs - fraction * (maxMs - minMs)
  const timeoutMs = Math.max(minMs, Math.floor(rawMs))
  return timeoutMs - elapsedMs
}

/** How many times a broadcast is transmitted: retransmitMult × ceil(log10(n + 1)). */
export function retransmitLimit(retransmitMult: number, nodeCount: number): number {
  const nodeScale = Math.ceil(Math.log10(nodeCount + 1))
  return retransmitMult * nodeScale
}

/** Push/pull period for n nodes: interval up to 32 nodes, then × (ceil(log2 n − log2 32) + 1). */
export function pushPullScaleMs(intervalMs: number, nodeCount: number): number {
  const threshold = 32
  if (nodeCount <= threshold) return intervalMs
  const multiplier = Math.ceil(Math.log2(nodeCount) - Math.log2(threshold)) + 1
  return multiplier * intervalMs
}

/** Lifeguard's scaled timeout: timeout × (healthScore + 1). */
export function awarenessScaleMs(timeoutMs: number, healthScore: number): number {
  return timeoutMs * (healthScore + 1)
}

/** A uniformly random offset in [0, intervalMs) (Go's randomOffset for timer staggering). */
export function randomOffsetMs(intervalMs: number, float: () => number): number {
  if (intervalMs <= 0) return 0
  return Math.floor(float() * intervalMs)
}
