/**
 * Per-node loopback addresses for the network-fault scenarios: node i binds and advertises
 * 127.0.0.(11+i), and its outgoing TCP connections start from that address too (the
 * bind-source.mjs preload), so packet filters can tell nodes apart. 127.0.0.1 stays the
 * clients' source, which no rule touches.
 */
import { fileURLToPath } from 'node:url'
import type { NodeStartOptions } from '../../helpers/cluster-harness.ts'

const BIND_SOURCE = fileURLToPath(new URL('./bind-source.mjs', import.meta.url))

/** The address of node `index` (0-based). */
export function nodeAddress(index: number): string {
  return `127.0.0.${11 + index}`
}

/** Start options that put node `index` on its own address. */
export function perNodeAddress(index: number): NodeStartOptions {
  const address = nodeAddress(index)
  const inherited = process.env.NODE_OPTIONS ?? ''
  return {
    extraArgs: ['--bind', address, '--advertise', address],
    env: {
      GOSSAMER_RELIABILITY_SOURCE_ADDRESS: address,
      NODE_OPTIONS: `${inherited} --import=${BIND_SOURCE}`.trim(),
    },
  }
}
