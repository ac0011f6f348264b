/**
 * What the simulator checks after healing, besides the history checker
 * (`testing/history/checker.ts`, which judges reads and the final state against the §4 promise):
 *
 * - every replica of every key holds the same newest record (`checkReplicasAgree` over the
 *   replicas' stores, read directly: the simulator can look inside every node);
 * - an acknowledged delete is never undone by an older value: the final record of the key must
 *   not be older than the delete's version (the checker orders deletes by real time only, which
 *   skewed clocks break; the simulator knows every delete's version, so it checks by version);
 * - membership and ownership views agree: every member sees every other member alive and holds
 *   the same ownership set, whose members are exactly the simulator's members (after joins and
 *   leaves);
 * - no hint is left undelivered, and no hand-off (inbound or outbound) is left unfinished.
 */
import { encodeOwnership, members } from '../cluster/ownership.ts'
import { compareVersions, formatVersion, parseVersion } from '../hlc/version.ts'
import type { Placement } from '../ring/partitioner.ts'
import type { FinalRecord, Violation } from '../testing/history/checker.ts'
import type { Operation } from '../testing/history/history.ts'
import type { SimNode } from './sim-node.ts'

const decoder = new TextDecoder()

/** Per key, per replica (under `placement`): the record it holds, or null. */
export function collectReplicas(
  nodes: ReadonlyMap<string, SimNode>,
  placement: Placement,
  keys: readonly string[],
): Map<string, Map<string, FinalRecord | null>> {
  const out = new Map<string, Map<string, FinalRecord | null>>()
  for (const key of keys) {
    const byNode = new Map<string, FinalRecord | null>()
    for (const name of placement.preferenceList(placement.partitionOf(key))) {
      const record = nodes.get(name)?.engine.getRecord(key)
      byNode.set(
        name,
        record === undefined
          ? null
          : {
              version: formatVersion(record.version),
              tombstone: record.value === null,
              value: record.value === null ? null : decoder.decode(record.value),
              expiresAtMs: record.expiresAtMs,
            },
      )
    }
    out.set(key, byNode)
  }
  return out
}

/** The newest record of each key among its replicas (null when none holds one). */
export function newestOf(
  replicas: ReadonlyMap<string, ReadonlyMap<string, FinalRecord | null>>,
): Map<string, FinalRecord | null> {
  const out = new Map<string, FinalRecord | null>()
  for (const [key, byNode] of replicas) {
    let newest: FinalRecord | null = null
    for (const record of byNode.values()) {
      if (record !== null && (newest === null || compareText(record.version, newest.version) > 0)) {
        newest = record
      }
    }
    out.set(key, newest)
  }
  return out
}

/** Acknowledged strong deletes whose key ended with an older record (see the module header). */
export function checkDeletesByVersion(
  operations: readonly Operation[],
  finalState: ReadonlyMap<string, FinalRecord | null>,
): Violation[] {
  const violations: Violation[] = []
  for (const op of operations) {
    if (op.kind !== 'delete' || op.outcome !== 'ok' || op.version === undefined) continue
    if (op.consistency !== 'quorum' && op.consistency !== 'all') continue
    const final = finalState.get(op.key)
    if (final === undefined || final === null) continue
    if (compareText(final.version, op.version) >= 0) continue
    violations.push({
      kind: final.tombstone ? 'lost-write' : 'deleted-reappeared',
      key: op.key,
      message: `${op.key}: final record ${final.version} is older than the acknowledged delete ${op.version}`,
      operations: [op],
    })
  }
  return violations
}

/** Disagreements between nodes' membership and ownership views (empty when they agree). */
export function viewProblems(nodes: readonly SimNode[]): string[] {
  const problems: string[] = []
  const names = nodes.map((n) => n.name)
  const reference = nodes[0] === undefined ? '' : ownershipText(nodes[0])
  for (const node of nodes) {
    if (!node.isReady) {
      problems.push(`${node.name} is not up and joined`)
      continue
    }
    for (const other of names) {
      const state = other === node.name ? 'alive' : node.core.node(other)?.state
      if (state !== 'alive') problems.push(`${node.name} sees ${other} as ${state ?? 'unknown'}`)
    }
    if (ownershipText(node) !== reference) {
      problems.push(`${node.name} ownership differs: ${ownershipText(node)} vs ${reference}`)
    }
    const owners = members(node.ownership).join(',')
    if (owners !== [...names].sort().join(',')) {
      problems.push(`${node.name} sees owners ${owners}, the members are ${names.join(',')}`)
    }
  }
  return problems
}

/** Hand-offs not finished on any node (empty when rebalancing is done). */
export function pendingHandoffs(nodes: readonly SimNode[]): string[] {
  const problems: string[] = []
  for (const node of nodes) {
    const inbound = node.inboundPending()
    const outbound = node.outboundPending()
    if (inbound + outbound > 0) {
      problems.push(`${node.name}: ${inbound} inbound, ${outbound} outbound hand-offs pending`)
    }
  }
  return problems
}

/**
 * Hints still held by `nodes`, whoever they are for. Hints for a node that left the ownership
 * set are re-targeted to the keys' current replicas (`HintedHandoff.retarget`), so every hint
 * must be delivered (or dropped and counted) before the cluster counts as converged.
 */
export function pendingHints(nodes: readonly SimNode[]): number {
  return nodes.reduce((sum, node) => sum + node.hintStore.list().length, 0)
}

/** Hints held by `nodes` for nodes that are no longer members (0 once re-targeted). */
export function orphanHints(nodes: readonly SimNode[]): number {
  const names = new Set(nodes.map((n) => n.name))
  return nodes.reduce(
    (sum, node) => sum + node.hintStore.list().filter((h) => !names.has(h.intendedReplica)).length,
    0,
  )
}

function ownershipText(node: SimNode): string {
  return Array.from(encodeOwnership(node.ownership), (b) => b.toString(16)).join('')
}

function compareText(a: string, b: string): number {
  const va = parseVersion(a)
  const vb = parseVersion(b)
  if (va === undefined || vb === undefined) throw new Error(`malformed version ${a} / ${b}`)
  return compareVersions(va, vb)
}
