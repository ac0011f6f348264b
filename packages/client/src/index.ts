/**
 * @packageDocumentation
 * `@gossamer/client`: a typed, dependency-free client for a Gossamer node's HTTP API, for Node
 * (>= 20) and browsers. Reads and writes binary-safe values with versions, TTLs and
 * conditional writes, and lists keys by prefix with pagination. Failures are error classes
 * carrying the server's stable `GOSSAMER_ERR_*` code.
 *
 * @example
 * ```ts
 * import { GossamerClient, NotFoundError } from '@gossamer/client'
 *
 * const client = new GossamerClient({ baseUrl: 'http://127.0.0.1:8080', timeoutMs: 5000 })
 * await client.put('user/1', JSON.stringify({ name: 'Ada' }), { contentType: 'application/json' })
 * try {
 *   const user = await client.get('user/1')
 *   console.log(user.text(), user.version)
 * } catch (error) {
 *   if (error instanceof NotFoundError) console.log('no such user')
 *   else throw error
 * }
 * for await (const item of client.listAll({ prefix: 'user/' })) console.log(item.key)
 * ```
 */
export {
  type DeleteOptions,
  type GetResult,
  GossamerClient,
  type GossamerClientOptions,
  type ListItem,
  type ListOptions,
  type ListPage,
  type PutOptions,
  type PutResult,
} from './client.ts'
export {
  BadResponseError,
  ConnectionError,
  errorFromResponse,
  GossamerClientError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  PreconditionFailedError,
  ServerError,
  TimeoutError,
  UnavailableError,
} from './errors.ts'
