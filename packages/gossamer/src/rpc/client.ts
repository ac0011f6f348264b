/**
 * RPC client driver (node:net): one persistent TCP connection to one peer, many calls
 * multiplexed on it by request id (architecture §7).
 *
 * The connection opens on the first call and stays open. When it drops, calls already sent fail
 * with `GOSSAMER_ERR_RPC_CONNECTION_LOST` (they may or may not have been applied), and calls not
 * yet sent wait for the next connection. Reconnection happens while calls are waiting, after a
 * delay that doubles with each consecutive failure between `reconnectDelayMsMin` and
 * `reconnectDelayMsMax` (with jitter, so a restarted peer is not hit by everyone at once).
 * Every call has a timeout; at most `maxPendingCalls` calls (sent or waiting) exist at once and
 * the next one fails at once with `GOSSAMER_ERR_RPC_QUEUE_FULL`. `close()` fails every pending
 * call with `GOSSAMER_ERR_RPC_CLOSED`.
 */
import { connect, type Socket } from 'node:net'
import { CoalescingWriter } from './coalescing-writer.ts'
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeRemoteError,
  decodeResponse,
  encodeFrame,
  encodeRequest,
  type Frame,
  FrameDecoder,
  METHOD_IDS,
  type MethodName,
  type RequestOf,
  type ResponseOf,
} from './codec.ts'
import { RPC_ERROR_CODES, RpcError } from './errors.ts'

/** Client settings. */
export interface RpcClientOptions {
  readonly host: string
  readonly port: number
  /** Default per-call timeout. @default 5000 */
  readonly callTimeoutMs?: number | undefined
  /** Calls pending at once (sent or waiting to be sent). @default 1024 */
  readonly maxPendingCalls?: number | undefined
  /** Largest accepted reply frame. @default 8 MiB */
  readonly maxFrameBytes?: number | undefined
  /** First reconnect delay after a failure; doubles per consecutive failure. @default 50 */
  readonly reconnectDelayMsMin?: number | undefined
  /** Cap of the reconnect delay. @default 5000 */
  readonly reconnectDelayMsMax?: number | undefined
  /** Give up a connection attempt after this long. @default 2000 */
  readonly connectTimeoutMs?: number | undefined
  /**
   * Source address of the connection (the node's bind address), so peers and packet filters
   * see which node a connection comes from. @default chosen by the kernel
   */
  readonly localAddress?: string | undefined
}

/** Client counters (plain numbers). */
export interface RpcClientMetrics {
  callsStarted: number
  callsSucceeded: number
  callsFailed: number
  timeouts: number
  queueFullRejections: number
  connectAttempts: number
  connectFailures: number
  connectionsOpened: number
  connectionsLost: number
  malformedFrames: number
  malformedResponses: number
  lateResponses: number
  remoteErrors: number
}

interface PendingCall {
  readonly method: MethodName
  readonly bytes: Uint8Array
  sent: boolean
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
  readonly timer: ReturnType<typeof setTimeout>
}

/** Calls one peer's `RpcServer`. */
export class RpcClient {
  readonly #options: RpcClientOptions
  readonly #metrics: RpcClientMetrics = {
    callsStarted: 0,
    callsSucceeded: 0,
    callsFailed: 0,
    timeouts: 0,
    queueFullRejections: 0,
    connectAttempts: 0,
    connectFailures: 0,
    connectionsOpened: 0,
    connectionsLost: 0,
    malformedFrames: 0,
    malformedResponses: 0,
    lateResponses: 0,
    remoteErrors: 0,
  }
  // Invariant: every pending call has a running timer; unsent ids are a subset of pending ids.
  readonly #pending = new Map<number, PendingCall>()
  #unsent: number[] = []
  #socket: Socket | undefined
  // Frames of one event-loop turn leave in one write (coalescing-writer.ts).
  #writer: CoalescingWriter | undefined
  #socketClosed: Promise<void> = Promise.resolve()
  #isConnected = false
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  #consecutiveFailures = 0
  #nextRequestId = 1
  #isClosed = false

  constructor(options: RpcClientOptions) {
    this.#options = options
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.#isConnected
  }

  /** Calls pending (sent or waiting). */
  get pendingCount(): number {
    return this.#pending.size
  }

  /** A snapshot of the counters. */
  metrics(): RpcClientMetrics {
    return { ...this.#metrics }
  }

  /** Calls `method` on the peer. Rejects with `RpcError` on timeout, overflow, loss or close. */
  call<M extends MethodName>(
    method: M,
    request: RequestOf<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<ResponseOf<M>> {
    if (this.#isClosed) return Promise.reject(new RpcError(RPC_ERROR_CODES.closed, 'client closed'))
    if (this.#pending.size >= (this.#options.maxPendingCalls ?? 1024)) {
      this.#metrics.queueFullRejections++
      return Promise.reject(new RpcError(RPC_ERROR_CODES.queueFull, 'too many pending calls'))
    }
    const payload = encodeRequest(method, request)
    const requestId = this.#allocateRequestId()
    const bytes = encodeFrame({ kind: 'request', requestId, method: METHOD_IDS[method], payload })
    this.#metrics.callsStarted++
    return new Promise<ResponseOf<M>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#options.callTimeoutMs ?? 5000
      const timer = setTimeout(() => this.#onTimeout(requestId, timeoutMs), timeoutMs)
      const call: PendingCall = {
        method,
        bytes,
        sent: false,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      }
      this.#pending.set(requestId, call)
      if (this.#isConnected) this.#write(call)
      else {
        this.#unsent.push(requestId)
        this.#ensureConnecting()
      }
    })
  }

  /** Fails every pending call with `GOSSAMER_ERR_RPC_CLOSED` and closes the connection. */
  close(): Promise<void> {
    this.#isClosed = true
    clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = undefined
    for (const id of [...this.#pending.keys()]) {
      this.#fail(id, new RpcError(RPC_ERROR_CODES.closed, 'client closed'))
    }
    this.#socket?.destroy()
    return this.#socketClosed
  }

  #allocateRequestId(): number {
    // Bounded: at most maxPendingCalls ids are in use, so this finds a free one quickly.
    for (let i = 0; i <= this.#pending.size; i++) {
      const id = this.#nextRequestId
      this.#nextRequestId = id >= 0xffffffff ? 1 : id + 1
      if (!this.#pending.has(id)) return id
    }
    throw new Error('unreachable: no free request id')
  }

  #write(call: PendingCall): void {
    call.sent = true
    this.#writer!.write(call.bytes)
  }

  #onTimeout(requestId: number, timeoutMs: number): void {
    if (!this.#pending.has(requestId)) return
    this.#metrics.timeouts++
    this.#fail(requestId, new RpcError(RPC_ERROR_CODES.timeout, `no reply within ${timeoutMs} ms`))
  }

  #fail(requestId: number, error: RpcError): void {
    const call = this.#pending.get(requestId)
    if (call === undefined) return
    this.#pending.delete(requestId)
    clearTimeout(call.timer)
    if (!call.sent) this.#unsent = this.#unsent.filter((id) => id !== requestId)
    this.#metrics.callsFailed++
    call.reject(error)
  }

  #succeed(requestId: number, value: unknown): void {
    const call = this.#pending.get(requestId)!
    this.#pending.delete(requestId)
    clearTimeout(call.timer)
    this.#metrics.callsSucceeded++
    call.resolve(value)
  }

  #ensureConnecting(): void {
    if (this.#isClosed || this.#socket !== undefined || this.#reconnectTimer !== undefined) return
    if (this.#consecutiveFailures === 0) {
      this.#connect()
      return
    }
    const min = this.#options.reconnectDelayMsMin ?? 50
    const max = this.#options.reconnectDelayMsMax ?? 5000
    const base = Math.min(max, min * 2 ** Math.min(this.#consecutiveFailures - 1, 30))
    const delayMs = base / 2 + (Math.random() * base) / 2
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined
      this.#connect()
    }, delayMs)
  }

  #connect(): void {
    if (this.#isClosed) return
    this.#metrics.connectAttempts++
    const { host, port, localAddress } = this.#options
    const socket = connect(
      localAddress === undefined ? { host, port } : { host, port, localAddress },
    )
    const decoder = new FrameDecoder({
      maxFrameBytes: this.#options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    })
    this.#socket = socket
    this.#writer = new CoalescingWriter(socket)
    this.#socketClosed = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.setNoDelay(true)
    socket.setTimeout(this.#options.connectTimeoutMs ?? 2000, () => socket.destroy())
    socket.on('connect', () => this.#onConnect(socket))
    socket.on('data', (chunk: Buffer) => this.#onData(socket, decoder, chunk))
    socket.on('error', () => {}) // 'close' follows and does the work.
    socket.on('close', () => this.#onClose(socket))
  }

  #onConnect(socket: Socket): void {
    socket.setTimeout(0)
    this.#isConnected = true
    this.#consecutiveFailures = 0
    this.#metrics.connectionsOpened++
    const ids = this.#unsent
    this.#unsent = []
    for (const id of ids) {
      const call = this.#pending.get(id)
      if (call !== undefined) this.#write(call)
    }
  }

  #onData(socket: Socket, decoder: FrameDecoder, chunk: Buffer): void {
    decoder.push(chunk)
    for (let i = 0; i < 100_000; i++) {
      const step = decoder.next()
      if (step.type === 'need-more') return
      if (step.type === 'error' || step.frame.kind === 'request') {
        this.#metrics.malformedFrames++
        socket.destroy()
        return
      }
      this.#onReply(step.frame)
    }
  }

  #onReply(frame: Frame): void {
    const call = this.#pending.get(frame.requestId)
    if (call === undefined || !call.sent || METHOD_IDS[call.method] !== frame.method) {
      this.#metrics.lateResponses++
      return
    }
    if (frame.kind === 'error') {
      this.#metrics.remoteErrors++
      const remote = decodeRemoteError(frame.payload)
      const code = remote.ok ? remote.value.code : 'unknown'
      const message = remote.ok ? remote.value.message : 'undecodable error frame'
      this.#fail(frame.requestId, new RpcError(RPC_ERROR_CODES.remote, message, code))
      return
    }
    const decoded = decodeResponse(call.method, frame.payload)
    if (decoded.ok) this.#succeed(frame.requestId, decoded.value)
    else {
      this.#metrics.malformedResponses++
      this.#fail(frame.requestId, new RpcError(RPC_ERROR_CODES.badResponse, decoded.reason))
    }
  }

  #onClose(socket: Socket): void {
    if (this.#socket !== socket) return
    this.#socket = undefined
    if (this.#isConnected) {
      this.#isConnected = false
      this.#metrics.connectionsLost++
      for (const [id, call] of [...this.#pending]) {
        if (call.sent)
          this.#fail(id, new RpcError(RPC_ERROR_CODES.connectionLost, 'connection lost'))
      }
    } else {
      this.#metrics.connectFailures++
      this.#consecutiveFailures++
    }
    if (this.#unsent.length > 0) this.#ensureConnecting()
  }
}
