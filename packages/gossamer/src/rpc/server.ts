/**
 * RPC server driver (node:net): one `ServerConnection` per accepted TCP connection, decoding
 * frames (codec.ts) and dispatching requests to one handler per method (architecture §7).
 *
 * Backpressure: a connection runs at most `maxInFlightPerConnection` handlers at once. When that
 * many are running, or the socket's write buffer is full, the connection stops pulling frames and
 * pauses the socket, so TCP flow control pushes back on the peer; it resumes when a handler
 * finishes or the socket drains. A malformed or oversized frame loses the framing: it is counted
 * and the connection is closed; the server keeps serving everyone else. A well-framed request
 * with an unknown method or an undecodable payload gets an error frame and is counted.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { CoalescingWriter } from './coalescing-writer.ts'
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeRequest,
  encodeFrame,
  encodeRemoteError,
  encodeResponse,
  type Frame,
  FrameDecoder,
  type MethodName,
  methodName,
  type RemoteErrorCode,
  type RequestOf,
  type ResponseOf,
} from './codec.ts'

/** Handles one method. May be sync or async; a throw becomes a `handlerFailed` error frame. */
export type RpcHandler<M extends MethodName> = (
  request: RequestOf<M>,
  context: { readonly peer: string },
) => ResponseOf<M> | Promise<ResponseOf<M>>

/** One handler per method; a missing one answers `unknownMethod`. */
export type RpcHandlers = { readonly [M in MethodName]?: RpcHandler<M> }

/** Server settings and handlers. */
export interface RpcServerOptions {
  readonly handlers: RpcHandlers
  /** Interface to bind. @default '127.0.0.1' */
  readonly host?: string | undefined
  /** Port to bind; 0 picks a free one. @default 0 */
  readonly port?: number | undefined
  /** Handlers running at once per connection before the socket is paused. @default 64 */
  readonly maxInFlightPerConnection?: number | undefined
  /** Largest accepted frame. @default 8 MiB */
  readonly maxFrameBytes?: number | undefined
  /** Open connections before new ones are refused. @default 1024 */
  readonly maxConnections?: number | undefined
}

/** Server counters (plain numbers; the node exports them to Prometheus). */
export interface RpcServerMetrics {
  connectionsAccepted: number
  connectionsOpen: number
  requestsReceived: number
  responsesSent: number
  errorsSent: number
  malformedFrames: number
  malformedPayloads: number
  unknownMethods: number
  handlerFailures: number
  readPauses: number
}

function emptyServerMetrics(): RpcServerMetrics {
  return {
    connectionsAccepted: 0,
    connectionsOpen: 0,
    requestsReceived: 0,
    responsesSent: 0,
    errorsSent: 0,
    malformedFrames: 0,
    malformedPayloads: 0,
    unknownMethods: 0,
    handlerFailures: 0,
    readPauses: 0,
  }
}

/** Serves RPC requests on one TCP port. */
export class RpcServer {
  readonly #options: RpcServerOptions
  readonly #metrics = emptyServerMetrics()
  readonly #connections = new Set<ServerConnection>()
  #server: Server | undefined

  constructor(options: RpcServerOptions) {
    this.#options = options
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    const server = createServer((socket) => this.#accept(socket))
    server.maxConnections = this.#options.maxConnections ?? 1024
    this.#server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#options.port ?? 0, this.#options.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve(this.address!)
      })
    })
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } | undefined {
    const address = this.#server?.address()
    if (address === null || address === undefined || typeof address === 'string') return undefined
    return { host: address.address, port: address.port }
  }

  /** A snapshot of the counters. */
  metrics(): RpcServerMetrics {
    return { ...this.#metrics, connectionsOpen: this.#connections.size }
  }

  /** Stops listening and closes every connection (running handlers' replies are dropped). */
  close(): Promise<void> {
    const server = this.#server
    for (const connection of this.#connections) connection.destroy()
    if (server === undefined || !server.listening) return Promise.resolve()
    return new Promise((resolve) => server.close(() => resolve()))
  }

  #accept(socket: Socket): void {
    this.#metrics.connectionsAccepted++
    const connection = new ServerConnection(socket, this.#options, this.#metrics)
    this.#connections.add(connection)
    socket.once('close', () => this.#connections.delete(connection))
  }
}

class ServerConnection {
  readonly #socket: Socket
  // Replies of one event-loop turn leave in one write (coalescing-writer.ts).
  readonly #writer: CoalescingWriter
  readonly #options: RpcServerOptions
  readonly #metrics: RpcServerMetrics
  readonly #decoder: FrameDecoder
  readonly #maxInFlight: number
  readonly #peer: string
  #inFlight = 0
  #writeBlocked = false
  #paused = false
  #closed = false

  constructor(socket: Socket, options: RpcServerOptions, metrics: RpcServerMetrics) {
    this.#socket = socket
    this.#writer = new CoalescingWriter(socket)
    this.#options = options
    this.#metrics = metrics
    this.#decoder = new FrameDecoder({
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    })
    this.#maxInFlight = options.maxInFlightPerConnection ?? 64
    this.#peer = `${socket.remoteAddress}:${socket.remotePort}`
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      this.#decoder.push(chunk)
      this.#pump()
    })
    socket.on('drain', () => {
      this.#writeBlocked = false
      this.#pump()
    })
    socket.on('error', () => {}) // 'close' follows; nothing to do per error.
    socket.on('close', () => {
      this.#closed = true
    })
  }

  destroy(): void {
    this.#closed = true
    this.#socket.destroy()
  }

  /** Pulls frames while below the in-flight bound, then sets the socket's flow state. */
  #pump(): void {
    while (!this.#closed && this.#inFlight < this.#maxInFlight && !this.#writeBlocked) {
      const step = this.#decoder.next()
      if (step.type === 'need-more') break
      if (step.type === 'error' || step.frame.kind !== 'request') {
        this.#metrics.malformedFrames++
        this.destroy()
        return
      }
      this.#dispatch(step.frame)
    }
    this.#updateFlow()
  }

  #updateFlow(): void {
    if (this.#closed) return
    const shouldPause = this.#inFlight >= this.#maxInFlight || this.#writeBlocked
    if (shouldPause && !this.#paused) {
      this.#paused = true
      this.#metrics.readPauses++
      this.#socket.pause()
    } else if (!shouldPause && this.#paused) {
      this.#paused = false
      this.#socket.resume()
    }
  }

  #dispatch(frame: Frame): void {
    this.#metrics.requestsReceived++
    const name = methodName(frame.method)
    const handler = name === undefined ? undefined : this.#options.handlers[name]
    if (name === undefined || handler === undefined) {
      this.#metrics.unknownMethods++
      this.#sendError(frame, 'unknownMethod', `unknown method ${frame.method}`)
      return
    }
    const decoded = decodeRequest(name, frame.payload)
    if (!decoded.ok) {
      this.#metrics.malformedPayloads++
      this.#sendError(frame, 'malformedRequest', decoded.reason)
      return
    }
    this.#inFlight++
    this.#run(name, handler as RpcHandler<MethodName>, decoded.value, frame).finally(() => {
      this.#inFlight--
      this.#pump()
    })
  }

  async #run(
    name: MethodName,
    handler: RpcHandler<MethodName>,
    request: unknown,
    frame: Frame,
  ): Promise<void> {
    try {
      const response = await handler(request as never, { peer: this.#peer })
      const payload = encodeResponse(name, response as never)
      this.#send(
        encodeFrame({
          kind: 'response',
          requestId: frame.requestId,
          method: frame.method,
          payload,
        }),
      )
      this.#metrics.responsesSent++
    } catch (error) {
      this.#metrics.handlerFailures++
      this.#sendError(
        frame,
        'handlerFailed',
        error instanceof Error ? error.message : String(error),
      )
    }
  }

  #sendError(frame: Frame, code: RemoteErrorCode, message: string): void {
    const payload = encodeRemoteError({ code, message })
    this.#send(
      encodeFrame({ kind: 'error', requestId: frame.requestId, method: frame.method, payload }),
    )
    this.#metrics.errorsSent++
  }

  #send(bytes: Uint8Array): void {
    if (this.#closed) return
    if (!this.#writer.write(bytes)) this.#writeBlocked = true
  }
}
