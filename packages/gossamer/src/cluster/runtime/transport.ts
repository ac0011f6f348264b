/**
 * How the replication driver reaches other nodes: request → reply, one replication message each
 * way (`put` → `put-reply`, `get` → `get-reply`, `hint-deliver` → `hint-ack`, `aae-*`,
 * `handoff-request` → `handoff-batch`; `aae-push` and `handoff-done` have no reply). A rejected
 * request is a failure the driver feeds to the core that sent it.
 *
 * Two implementations: `InProcessNetwork` (nodes in one process find each other by name; tests)
 * and the RPC transport in `rpc-transport.ts` (TCP, `src/rpc`).
 */
import type { ReplicationMessage } from '../../replication/messages.ts'

/** Handles one incoming request; resolves with its reply (undefined for one-way messages). */
export type IncomingHandler = (
  from: string,
  message: ReplicationMessage,
) => Promise<ReplicationMessage | undefined>

/** Sends requests to peers by node name. */
export interface PeerTransport {
  /** Rejects when the peer cannot be reached, the call times out, or the peer failed it. */
  request(
    to: string,
    message: ReplicationMessage,
    options?: { timeoutMs?: number | undefined },
  ): Promise<ReplicationMessage | undefined>
  /** True while recent requests to `node` failed at the transport (connection refused, ...). */
  isFailing?(node: string): boolean
  /** Closes connections; later requests reject. */
  close(): Promise<void>
}

/** A failure of the transport (peer unknown or gone). */
export class TransportError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'TransportError'
    this.code = code
  }
}

/** Nodes of one process, reachable by name without sockets. */
export class InProcessNetwork {
  readonly #handlers = new Map<string, IncomingHandler>()

  /** Makes `name` reachable; returns a function that makes it unreachable again. */
  register(name: string, handler: IncomingHandler): () => void {
    this.#handlers.set(name, handler)
    return () => {
      if (this.#handlers.get(name) === handler) this.#handlers.delete(name)
    }
  }

  /** A transport sending as `self`. */
  transport(self: string): PeerTransport {
    let isClosed = false
    return {
      request: async (to, message) => {
        const handler = this.#handlers.get(to)
        if (isClosed || handler === undefined) {
          throw new TransportError('GOSSAMER_ERR_RPC_CONNECTION_LOST', `${to} is not reachable`)
        }
        await Promise.resolve()
        return handler(self, message)
      },
      close: async () => {
        isClosed = true
      },
    }
  }
}
