/**
 * The RPC transport drivers (node:net), in one import: `RpcServer` (server.ts) and `RpcClient`
 * (client.ts), with their errors. The wire format lives in codec.ts; docs/rpc.md describes both.
 */
export { RpcClient, type RpcClientMetrics, type RpcClientOptions } from './client.ts'
export { RPC_ERROR_CODES, RpcError, type RpcErrorCode } from './errors.ts'
export {
  type RpcHandler,
  type RpcHandlers,
  RpcServer,
  type RpcServerMetrics,
  type RpcServerOptions,
} from './server.ts'
