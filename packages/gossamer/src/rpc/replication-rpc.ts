/**
 * Replication over RPC: one generic encode/decode pair for every replication message, and the
 * two helpers a node's driver needs to carry the cores' `Outgoing` messages on `RpcClient` and
 * `RpcServer` (architecture §6–7; docs/rpc.md "Replication methods"). The layouts and the
 * request → reply table are in replication-codec.ts.
 *
 * - Sending: `callReplication(client, from, message)` picks the method from `message.type` and
 *   resolves with the reply message (`undefined` for the one-way `aae-push` and `handoff-done`,
 *   once the peer has handled them). Failures are `RpcError`s; the driver turns them into the
 *   cores' `onFailure` inputs.
 * - Serving: `replicationHandlers(handle)` builds the `RpcServer` handlers for every replication
 *   method from one function `(from, message, context) => reply | undefined`. A handler that
 *   returns no reply (or a reply of the wrong type) for a request that needs one fails that call
 *   with a `handlerFailed` error frame, which the caller sees as a failure: the right outcome
 *   when a core drops a malformed request.
 */
import type { ReplicationMessage } from '../replication/messages.ts'
import {
  type DecodeResult,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  METHOD_IDS,
  type MethodName,
  methodName,
  type RequestOf,
  type ResponseOf,
} from './codec.ts'
import {
  isReplicationRequest,
  REPLICATION_METHOD_OF,
  REPLY_TYPE_OF,
  type ReplicationMethodName,
  type ReplicationReply,
  type ReplicationRequest,
  type ReplyFor,
} from './replication-codec.ts'
import type { RpcHandler, RpcHandlers } from './server.ts'

/** A replication message as one RPC payload. */
export interface EncodedReplicationMessage {
  readonly method: ReplicationMethodName
  /** `METHOD_IDS[method]`, as written in the frame header. */
  readonly methodId: number
  /** A request frame or a response frame. */
  readonly kind: 'request' | 'response'
  readonly payload: Uint8Array
}

/**
 * Encodes any replication message: a request (with the sender's name `from`) or a reply.
 * Throws RangeError for values outside the layout (a local bug, never peer input).
 */
export function encodeReplicationMessage(input: {
  readonly from: string
  readonly message: ReplicationMessage
}): EncodedReplicationMessage {
  const { from, message } = input
  const method = REPLICATION_METHOD_OF[message.type]
  if (isReplicationRequest(message)) {
    const payload = encodeRequest(method, { from, message } as RequestOf<typeof method>)
    return { method, methodId: METHOD_IDS[method], kind: 'request', payload }
  }
  const payload = encodeResponse(method, message as ResponseOf<typeof method>)
  return { method, methodId: METHOD_IDS[method], kind: 'response', payload }
}

/** A decoded replication message; `from` is set for requests only. */
export interface DecodedReplicationMessage {
  readonly from: string | undefined
  readonly message: ReplicationMessage
}

const REPLICATION_METHODS = new Set<MethodName>(Object.values(REPLICATION_METHOD_OF))

/**
 * Decodes one replication payload given the frame's method number and kind. Never throws:
 * unknown or non-replication methods, the empty responses of one-way methods and malformed
 * payloads are `{ ok: false }`.
 */
export function decodeReplicationMessage(input: {
  readonly methodId: number
  readonly kind: 'request' | 'response'
  readonly payload: Uint8Array
}): DecodeResult<DecodedReplicationMessage> {
  const method = methodName(input.methodId)
  if (method === undefined || !REPLICATION_METHODS.has(method)) {
    return { ok: false, reason: `not a replication method: ${input.methodId}` }
  }
  if (input.kind === 'request') {
    const decoded = decodeRequest(method, input.payload)
    if (!decoded.ok) return decoded
    const { from, message } = decoded.value as { from: string; message: ReplicationMessage }
    return { ok: true, value: { from, message } }
  }
  if (method === 'aaePush' || method === 'handoffDone') {
    return { ok: false, reason: `${method} has no reply message` }
  }
  const decoded = decodeResponse(method, input.payload)
  if (!decoded.ok) return decoded
  return { ok: true, value: { from: undefined, message: decoded.value as ReplicationMessage } }
}

/** The part of `RpcClient` that `callReplication` uses (so tests can pass a fake). */
export interface RpcCaller {
  call<M extends MethodName>(
    method: M,
    request: RequestOf<M>,
    options?: { timeoutMs?: number },
  ): Promise<ResponseOf<M>>
}

/**
 * Sends a replication request and resolves with its reply (`undefined` for one-way messages).
 * Rejects with the client's `RpcError` on timeout, overflow, connection loss or a remote error.
 */
export async function callReplication<T extends ReplicationRequest>(
  client: RpcCaller,
  from: string,
  message: T,
  options: { timeoutMs?: number } = {},
): Promise<ReplyFor<T>> {
  const method = REPLICATION_METHOD_OF[message.type]
  const response = await client.call(method, { from, message } as RequestOf<typeof method>, options)
  return (REPLY_TYPE_OF[message.type] === null ? undefined : response) as ReplyFor<T>
}

/** Handles one replication request; returns its reply (nothing for one-way requests). */
export type ReplicationRequestHandler = (
  from: string,
  message: ReplicationRequest,
  context: { readonly peer: string },
) => ReplicationReply | undefined | Promise<ReplicationReply | undefined>

/**
 * `RpcServer` handlers for every replication method (not `putBatch`, which has no message in
 * the union: register it separately), all routed to `handle`. Spread them next to the other
 * handlers: `new RpcServer({ handlers: { ...replicationHandlers(handle), putBatch } })`.
 */
export function replicationHandlers(handle: ReplicationRequestHandler): RpcHandlers {
  const handler: RpcHandler<ReplicationMethodName> = async (request, context) => {
    const { from, message } = request as { from: string; message: ReplicationRequest }
    const reply = await handle(from, message, context)
    const expected = REPLY_TYPE_OF[message.type]
    if (expected === null) return {} as ResponseOf<ReplicationMethodName>
    if (reply === undefined || reply.type !== expected) {
      throw new Error(`no ${expected} for ${message.type}`)
    }
    return reply as ResponseOf<ReplicationMethodName>
  }
  const handlers: { [M in ReplicationMethodName]?: RpcHandler<M> } = {}
  for (const method of REPLICATION_METHODS) {
    ;(handlers as Record<string, unknown>)[method] = handler
  }
  return handlers as RpcHandlers
}
