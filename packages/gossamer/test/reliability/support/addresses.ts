/**
 * Per-node loopback addresses for the network-fault scenarios: node i binds and advertises
 * 127.0.0.(11+i). Its outgoing TCP connections (RPC and memberlist streams) start from that
 * address too, because the agent binds their source to its `--bind` address, so packet filters
 * can tell nodes apart. 127.0.0.1 stays the clients' source, which no rule touches.
 */
import type { NodeStartOptions } from '../../helpers/cluster-harness.ts'

/** The address of node `index` (0-based). */
export function nodeAddress(index: number): string {
  return `127.0.0.${11 + index}`
}

/** Start options that put node `index` on its own address. */
export function perNodeAddress(index: number): NodeStartOptions {
  const address = nodeAddress(index)
  return { extraArgs: ['--bind', address, '--advertise', address] }
}
