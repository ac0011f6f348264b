/**
 * The peer transport over node-to-node RPC (architecture §7, docs/rpc.md): one persistent
 * `RpcClient` per peer, found by the RPC address the peer advertises in its memberlist
 * metadata. A peer that restarts on another address gets a fresh client. Requests carry this
 * node's name (the envelope's `from`).
 *
 * A connection that goes silent (a call timed out and nothing arrived on it for half a call
 * timeout — the deadline coordinators give replica calls) is dropped by the client and a fresh
 * one dialled on the next call (docs/rpc.md, "Silent connections"), so requests across a healed
 * partition do not wait for TCP's backed-off retransmission timer. `resetPeer` does the same
 * on demand, for membership to call when it sees a peer alive again after it was suspect or
 * dead.
 */

import { isIP } from 'node:net'
import type { ReplicationMessage } from '../../replication/messages.ts'
import { RpcClient } from '../../rpc/client.ts'
import type { ReplicationRequest } from '../../rpc/replication-codec.ts'
import { callReplication, replicationHandlers } from '../../rpc/replication-rpc.ts'
import type { RpcHandlers } from '../../rpc/server.ts'
import type { ScanPage } from '../../storage/engine.ts'
import { type IncomingHandler, type PeerTransport, TransportError } from './transport.ts'

/** Options of {@link RpcPeerTransport}. */
export interface RpcPeerTransportOptions {
  readonly self: string
  /** The advertised RPC address (`host:port`) of a live peer, or undefined. */
  readonly addressOf: (node: string) => string | undefined
  /** Per-call timeout. */
  readonly callTimeoutMs: number
  /**
   * The node's `--bind` address: outgoing connections originate from it when it is a specific
   * address (not 0.0.0.0 / ::), so peers and packet filters see which node a connection is from.
   */
  readonly bindAddress?: string | undefined
}

/** How long a peer whose connection failed is considered unreachable before it is tried again. */
const FAILING_FOR_MS = 1_000

interface PooledClient {
  readonly address: string
  readonly client: RpcClient
}

/** A pool of RPC clients, one per peer. */
export class RpcPeerTransport implements PeerTransport {
  readonly #options: RpcPeerTransportOptions
  readonly #clients = new Map<string, PooledClient>()
  readonly #failingUntilMs = new Map<string, number>()
  #isClosed = false

  constructor(options: RpcPeerTransportOptions) {
    this.#options = options
  }

  async request(
    to: string,
    message: ReplicationMessage,
    options: { timeoutMs?: number | undefined } = {},
  ): Promise<ReplicationMessage | undefined> {
    const client = this.#clientFor(to)
    try {
      const reply = await callReplication(
        client,
        this.#options.self,
        message as ReplicationRequest,
        {
          timeoutMs: options.timeoutMs ?? this.#options.callTimeoutMs,
        },
      )
      this.#failingUntilMs.delete(to)
      return reply as ReplicationMessage | undefined
    } catch (error) {
      // A peer we cannot even connect to is skipped for a moment (coordinators go straight to
      // fallbacks) instead of costing every request a call timeout. A connection the client
      // dropped itself for silence is not such evidence: the next request dials at once.
      if (client.unreachable) this.#failingUntilMs.set(to, Date.now() + FAILING_FOR_MS)
      throw error
    }
  }

  /** One page of a peer's local store (the `scan` method; see cluster-listing.ts). */
  async scan(
    to: string,
    request: { partition: number; after?: string | undefined; limit: number },
    options: { timeoutMs?: number | undefined } = {},
  ): Promise<ScanPage> {
    const client = this.#clientFor(to)
    const query =
      request.after === undefined
        ? { partition: request.partition, limit: request.limit }
        : { partition: request.partition, after: request.after, limit: request.limit }
    return client.call('scan', query, {
      timeoutMs: options.timeoutMs ?? this.#options.callTimeoutMs,
    })
  }

  isFailing(node: string): boolean {
    const until = this.#failingUntilMs.get(node)
    if (until === undefined) return false
    if (Date.now() < until) return true
    this.#failingUntilMs.delete(node)
    return false
  }

  /**
   * Drops the connection to `node` (calls sent on it fail) and forgets that it was failing; the
   * next request dials a fresh connection at once, without reconnect backoff. For when the peer
   * is known to be reachable again (membership: suspect or dead → alive) while the old
   * connection may still be stuck in TCP retransmission backoff.
   */
  resetPeer(node: string): void {
    this.#failingUntilMs.delete(node)
    this.#clients.get(node)?.client.resetConnection()
  }

  /** Client counters summed over every peer. */
  metrics(): {
    callsFailed: number
    timeouts: number
    connectionsLost: number
    silentResets: number
  } {
    const total = { callsFailed: 0, timeouts: 0, connectionsLost: 0, silentResets: 0 }
    for (const { client } of this.#clients.values()) {
      const m = client.metrics()
      total.callsFailed += m.callsFailed
      total.timeouts += m.timeouts
      total.connectionsLost += m.connectionsLost
      total.silentResets += m.silentResets
    }
    return total
  }

  async close(): Promise<void> {
    this.#isClosed = true
    const clients = [...this.#clients.values()]
    this.#clients.clear()
    await Promise.all(clients.map(({ client }) => client.close()))
  }

  #clientFor(to: string): RpcClient {
    if (this.#isClosed) throw new TransportError('GOSSAMER_ERR_RPC_CLOSED', 'transport closed')
    const address = this.#options.addressOf(to)
    if (address === undefined) {
      throw new TransportError('GOSSAMER_ERR_RPC_CONNECTION_LOST', `no RPC address for ${to}`)
    }
    const pooled = this.#clients.get(to)
    if (pooled !== undefined && pooled.address === address) return pooled.client
    if (pooled !== undefined) void pooled.client.close()
    const { host, port } = splitAddress(address)
    const client = new RpcClient({
      host,
      port,
      callTimeoutMs: this.#options.callTimeoutMs,
      resetAfterSilenceMs: Math.max(1, this.#options.callTimeoutMs / 2),
      localAddress: sourceAddressFor(this.#options.bindAddress, host),
    })
    this.#clients.set(to, { address, client })
    return client
  }
}

/** `RpcServer` handlers that route every replication method to `handle`. */
export function replicationServerHandlers(handle: IncomingHandler): RpcHandlers {
  return replicationHandlers(async (from, message) => {
    const reply = await handle(from, message)
    return reply as Awaited<ReturnType<Parameters<typeof replicationHandlers>[0]>>
  })
}

/**
 * The source address of a connection to `host`: the bind address when it is a specific address
 * of the same family (and not loopback towards another machine); otherwise the kernel's choice.
 */
export function sourceAddressFor(
  bindAddress: string | undefined,
  host: string,
): string | undefined {
  if (bindAddress === undefined || bindAddress === '') return undefined
  if (bindAddress === '0.0.0.0' || bindAddress === '::') return undefined
  if (isIP(bindAddress) === 0 || isIP(bindAddress) !== isIP(host)) return undefined
  return isLoopback(bindAddress) && !isLoopback(host) ? undefined : bindAddress
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1'
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':')
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1')
  return { host, port: Number(address.slice(at + 1)) }
}
