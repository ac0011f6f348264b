/**
 * Errors a caller of `RpcClient.call` can see. Callers branch on `code`, never on the message.
 * All are expected operating outcomes (architecture §7: timeouts on every call, bounded queues),
 * so the replication coordinator treats each as "this replica did not answer". `RpcError` is a
 * `GossamerError`: every code is in the catalogue (src/errors.ts, docs/errors.md) with its HTTP
 * status, so one that reaches the API maps like any other boundary error.
 */
import { GossamerError } from '../errors.ts'
import type { RemoteErrorCode } from './codec.ts'

/** Stable codes of RPC failures (each listed in the catalogue and docs/errors.md). */
export const RPC_ERROR_CODES = {
  /** No reply within the call's timeout. The request may or may not have been applied. */
  timeout: 'GOSSAMER_ERR_RPC_TIMEOUT',
  /** The client already holds `maxPendingCalls` calls; nothing was sent. */
  queueFull: 'GOSSAMER_ERR_RPC_QUEUE_FULL',
  /** The client was closed before the call completed. */
  closed: 'GOSSAMER_ERR_RPC_CLOSED',
  /** The connection dropped after the request was sent; it may or may not have been applied. */
  connectionLost: 'GOSSAMER_ERR_RPC_CONNECTION_LOST',
  /** The peer could not be connected to (a dial failed, or the client is backing off); not sent. */
  unavailable: 'GOSSAMER_ERR_RPC_UNAVAILABLE',
  /** The peer answered with an error frame; see `remoteCode`. */
  remote: 'GOSSAMER_ERR_RPC_REMOTE',
  /** The peer's reply could not be decoded (counted as malformed). */
  badResponse: 'GOSSAMER_ERR_RPC_BAD_RESPONSE',
} as const satisfies Record<string, GossamerError['code']>

/** One of `RPC_ERROR_CODES`. */
export type RpcErrorCode = (typeof RPC_ERROR_CODES)[keyof typeof RPC_ERROR_CODES]

/** A failed RPC call. */
export class RpcError extends GossamerError {
  declare readonly code: RpcErrorCode
  /** For `GOSSAMER_ERR_RPC_REMOTE`: the peer's error code. */
  readonly remoteCode: RemoteErrorCode | 'unknown' | undefined

  constructor(code: RpcErrorCode, message: string, remoteCode?: RemoteErrorCode | 'unknown') {
    super(code, message)
    this.name = 'RpcError'
    this.remoteCode = remoteCode
  }
}
