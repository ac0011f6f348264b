/**
 * The RPC transport drivers (node:net), in one import: `RpcServer` (server.ts) and `RpcClient`
 * (client.ts), with their errors, and the
 * replication methods (replication-codec.ts, replication-rpc.ts). The wire format lives in
 * codec.ts; docs/rpc.md describes both.
 */
export { RpcClient, type RpcClientMetrics, type RpcClientOptions } from './client.ts'
export { RPC_ERROR_CODES, RpcError, type RpcErrorCode } from './errors.ts'
export {
  correlationIdOf,
  isReplicationRequest,
  isReplyTo,
  type PutBatchRequest,
  type PutBatchResponse,
  REPLICATION_METHOD_OF,
  REPLY_TYPE_OF,
  type ReplicationEnvelope,
  type ReplicationMethodName,
  type ReplicationReply,
  type ReplicationRequest,
  type ReplyFor,
} from './replication-codec.ts'
export {
  callReplication,
  type DecodedReplicationMessage,
  decodeReplicationMessage,
  type EncodedReplicationMessage,
  encodeReplicationMessage,
  type ReplicationRequestHandler,
  type RpcCaller,
  replicationHandlers,
} from './replication-rpc.ts'
export {
  type RpcHandler,
  type RpcHandlers,
  RpcServer,
  type RpcServerMetrics,
  type RpcServerOptions,
} from './server.ts'
