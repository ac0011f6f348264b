/**
 * RPC client driver (node:net): one persistent TCP connection to one peer, many calls
 * multiplexed on it by request id (architecture §7).
 *
 * The connection opens on the first call and stays open. When it drops, calls already sent fail
 * with `GOSSAMER_ERR_RPC_CONNECTION_LOST` (they may or may not have been applied), and calls not
 * yet sent wait for the next connection. Reconnection happens while calls are waiting, after a
 * delay that doubles with each consecutive failure between `reconnectDelayMsMin` and
 * `reconnectDelayMsMax` (with jitter, so a restarted peer is not hit by everyone at once).
 *
 * Failing fast (gRPC's default; `waitForConnection` is its wait-for-ready): a call fails at once
 * with `GOSSAMER_ERR_RPC_UNAVAILABLE` (nothing was sent) when a dial fails while it waits, or
 * when it is made while the client backs off after a failed dial. A caller with somewhere else
 * to go — a write coordinator's fallback, a read's other replicas — then goes there now instead
 * of after a whole call timeout (multi-process wiped-replica test: the puts for a SIGKILLed
 * replica waited out their timeouts, so no hint had been stored when the writes were all
 * acknowledged). A call made with `waitForConnection` waits through the backoff until its
 * timeout instead. The reconnect schedule is the same either way: the next dial is still made
 * after the backoff delay when calls arrive.
 * Every call has a timeout; at most `maxPendingCalls` calls (sent or waiting) exist at once and
 * the next one fails at once with `GOSSAMER_ERR_RPC_QUEUE_FULL`. `close()` fails every pending
 * call with `GOSSAMER_ERR_RPC_CLOSED`.
 *
 * A connection that has gone silent is dropped, not waited on (docs/rpc.md, "Silent
 * connections"): when a call sent on it times out and nothing at all has been received on it
 * for `resetAfterSilenceMs` while it owed a reply, the client destroys it — its other sent calls
 * fail with `GOSSAMER_ERR_RPC_CONNECTION_LOST` — and the next call dials a fresh one. Otherwise
 * a connection whose packets were dropped for a while (a network partition) would carry nothing
 * until the kernel's backed-off retransmission timer fires, which after a partition of tens of
 * seconds is tens of seconds more.
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

/** See #onTimeout. */
const TIMER_SLACK_MS = 10

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
  /**
   * Drop the connection when a call on it times out and nothing has been received on it for
   * this long while it owed a reply (see the class comment); 0 turns it off.
   * @default callTimeoutMs
   */
  readonly resetAfterSilenceMs?: number | undefined
  /**
   * TCP keepalive idle time of the connection (only the idle time: Node sets neither the probe
   * interval nor the count, which stay the kernel's); 0 turns keepalive off. @default 10000
   */
  readonly keepAliveIdleMs?: number | undefined
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
  /** Connections dropped because they went silent (counted in `connectionsLost` too). */
  silentResets: number
  malformedFrames: number
  malformedResponses: number
  lateResponses: number
  remoteErrors: number
  /** Calls failed unsent because the peer could not be connected to (`GOSSAMER_ERR_RPC_UNAVAILABLE`). */
  unavailable: number
}

interface PendingCall {
  readonly method: MethodName
  readonly bytes: Uint8Array
  sent: boolean
  /** The connection the call was written to. */
  socket: Socket | undefined
  readonly resolve: (value: unknown) => void
  readonly reject: (error: Error) => void
  readonly timer: ReturnType<typeof setTimeout>
  /** Waits through failed dials until its timeout instead of failing at the first one. */
  readonly waitForConnection: boolean
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
    silentResets: 0,
    malformedFrames: 0,
    malformedResponses: 0,
    lateResponses: 0,
    remoteErrors: 0,
    unavailable: 0,
  }
  // Invariant: every pending call has a running timer; unsent ids are a subset of pending ids.
  readonly #pending = new Map<number, PendingCall>()
  #unsent: number[] = []
  #socket: Socket | undefined
  // Frames of one event-loop turn leave in one write (coalescing-writer.ts).
  #writer: CoalescingWriter | undefined
  #socketClosed: Promise<void> = Promise.resolve()
  #isConnected = false
  // Silence tracking of the current connection: sent calls still pending on it, and since when
  // (performance.now()) it has owed a reply without a byte arriving; undefined when it owes none.
  #inFlight = 0
  #owedSinceMs: number | undefined
  readonly #closingSockets = new Set<Promise<void>>()
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  #consecutiveFailures = 0
  #lastFailureAtMs = 0
  // Evidence that the peer cannot be reached (see `unreachable`).
  #hasPeerFailed = false
  #nextRequestId = 1
  #isClosed = false

  constructor(options: RpcClientOptions) {
    this.#options = options
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.#isConnected
  }

  /**
   * True when not connected because of the peer or the network: a dial failed, the peer closed
   * the connection, or a call timed out waiting for a connection — since the last successful
   * connect. False while connected, and after this client dropped a connection itself (a silent
   * connection or `resetConnection()`: the next call dials at once, and only its outcome says
   * whether the peer is reachable).
   */
  get unreachable(): boolean {
    return !this.#isConnected && this.#hasPeerFailed
  }

  /** Calls pending (sent or waiting). */
  get pendingCount(): number {
    return this.#pending.size
  }

  /** A snapshot of the counters. */
  metrics(): RpcClientMetrics {
    return { ...this.#metrics }
  }

  /**
   * Calls `method` on the peer. Rejects with `RpcError` on timeout, overflow, loss, close, or —
   * unless `waitForConnection` — when the peer cannot be connected to (see the class comment).
   */
  call<M extends MethodName>(
    method: M,
    request: RequestOf<M>,
    options: { timeoutMs?: number; waitForConnection?: boolean } = {},
  ): Promise<ResponseOf<M>> {
    if (this.#isClosed) return Promise.reject(new RpcError(RPC_ERROR_CODES.closed, 'client closed'))
    if (this.#pending.size >= (this.#options.maxPendingCalls ?? 1024)) {
      this.#metrics.queueFullRejections++
      return Promise.reject(new RpcError(RPC_ERROR_CODES.queueFull, 'too many pending calls'))
    }
    const waitForConnection = options.waitForConnection === true
    if (!waitForConnection && !this.#isConnected && this.#socket === undefined) {
      // Not connected and not dialling: dial now, or — backing off after a failed dial (the
      // peer refused or did not answer a moment ago) — schedule the next dial and fail now.
      this.#ensureConnecting()
      if (this.#reconnectTimer !== undefined) {
        this.#metrics.callsStarted++
        this.#metrics.callsFailed++
        this.#metrics.unavailable++
        return Promise.reject(this.#unavailableError())
      }
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
        socket: undefined,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
        waitForConnection,
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
    return Promise.all([this.#socketClosed, ...this.#closingSockets]).then(() => {})
  }

  /**
   * Drops the current connection now (its sent calls fail with
   * `GOSSAMER_ERR_RPC_CONNECTION_LOST`); the next call dials a fresh one at once. For callers
   * that learn from elsewhere that the peer was unreachable, e.g. membership seeing it alive
   * again after it was suspect or dead.
   */
  resetConnection(): void {
    if (this.#isClosed) return
    this.#consecutiveFailures = 0
    this.#hasPeerFailed = false
    clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = undefined
    if (this.#isConnected) this.#lose('connection reset')
    this.#detach()
    if (this.#unsent.length > 0) this.#ensureConnecting()
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
    call.socket = this.#socket
    this.#inFlight++
    this.#owedSinceMs ??= performance.now()
    this.#writer!.write(call.bytes)
  }

  #onTimeout(requestId: number, timeoutMs: number): void {
    const call = this.#pending.get(requestId)
    if (call === undefined) return
    this.#metrics.timeouts++
    // Measured before the call is settled (settling the last owed call ends the window). Only a
    // timeout of a call sent on the current connection says something about it; #owedSinceMs
    // is then set (when this call was sent, or by data arriving since).
    if (!call.sent) this.#hasPeerFailed = true // it waited for a connection that did not come
    const isCurrent = call.sent && call.socket === this.#socket && this.#isConnected
    const silentForMs = isCurrent ? performance.now() - (this.#owedSinceMs ?? 0) : 0
    this.#fail(requestId, new RpcError(RPC_ERROR_CODES.timeout, `no reply within ${timeoutMs} ms`))
    const silenceMs = this.#options.resetAfterSilenceMs ?? this.#options.callTimeoutMs ?? 5000
    if (!isCurrent || silenceMs <= 0) return
    // Timers start from the event loop's cached clock, so one may fire a little before
    // performance.now() says its time is up; the slack keeps a call timeout equal to the
    // threshold from missing it.
    if (silentForMs >= silenceMs - TIMER_SLACK_MS) {
      this.#metrics.silentResets++
      this.#drop(`connection reset: nothing received for ${Math.round(silentForMs)} ms`)
    }
  }

  /**
   * Takes the current (established) connection out of use at once: its sent calls fail with
   * `connectionLost`, it is destroyed, and waiting calls dial a new one.
   */
  #drop(reason: string): void {
    this.#lose(reason)
    this.#hasPeerFailed = false
    this.#detach()
    if (this.#unsent.length > 0) this.#ensureConnecting()
  }

  /** Destroys the current socket (if any) without waiting for its 'close'. */
  #detach(): void {
    const socket = this.#socket
    if (socket === undefined) return
    this.#socket = undefined
    this.#writer = undefined
    const closed = this.#socketClosed
    this.#closingSockets.add(closed)
    void closed.then(() => this.#closingSockets.delete(closed))
    socket.destroy()
  }

  /** The current connection is gone: fail what was sent on it. */
  #lose(reason: string): void {
    this.#isConnected = false
    this.#metrics.connectionsLost++
    this.#inFlight = 0
    this.#owedSinceMs = undefined
    for (const [id, call] of [...this.#pending]) {
      if (call.sent) this.#fail(id, new RpcError(RPC_ERROR_CODES.connectionLost, reason))
    }
  }

  #fail(requestId: number, error: RpcError): void {
    const call = this.#pending.get(requestId)
    if (call === undefined) return
    this.#pending.delete(requestId)
    clearTimeout(call.timer)
    if (!call.sent) this.#unsent = this.#unsent.filter((id) => id !== requestId)
    else this.#settledSent(call)
    this.#metrics.callsFailed++
    call.reject(error)
  }

  #succeed(requestId: number, value: unknown): void {
    const call = this.#pending.get(requestId)!
    this.#pending.delete(requestId)
    clearTimeout(call.timer)
    this.#settledSent(call)
    this.#metrics.callsSucceeded++
    call.resolve(value)
  }

  /** A sent call is no longer pending: the current connection owes one reply less. */
  #settledSent(call: PendingCall): void {
    if (call.socket !== this.#socket || !this.#isConnected) return
    this.#inFlight--
    if (this.#inFlight === 0) this.#owedSinceMs = undefined
  }

  #ensureConnecting(): void {
    if (this.#isClosed || this.#socket !== undefined || this.#reconnectTimer !== undefined) return
    const max = this.#options.reconnectDelayMsMax ?? 5000
    // Backoff protects a peer from a tight dial loop; after a quiet spell longer than the
    // longest delay (no calls, so no dials: e.g. the peer was dead to membership), dialling
    // again at once is no such loop, and a delay grown during an old outage would only hold
    // up the first calls after it.
    if (performance.now() - this.#lastFailureAtMs > max) this.#consecutiveFailures = 0
    if (this.#consecutiveFailures === 0) {
      this.#connect()
      return
    }
    const min = this.#options.reconnectDelayMsMin ?? 50
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
    const keepAliveIdleMs = this.#options.keepAliveIdleMs ?? 10_000
    if (keepAliveIdleMs > 0) socket.setKeepAlive(true, keepAliveIdleMs)
    socket.setTimeout(this.#options.connectTimeoutMs ?? 2000, () => socket.destroy())
    socket.on('connect', () => this.#onConnect(socket))
    socket.on('data', (chunk: Buffer) => this.#onData(socket, decoder, chunk))
    socket.on('error', () => {}) // 'close' follows and does the work.
    socket.on('close', () => this.#onClose(socket))
  }

  #onConnect(socket: Socket): void {
    socket.setTimeout(0)
    this.#isConnected = true
    this.#inFlight = 0
    this.#owedSinceMs = undefined
    this.#consecutiveFailures = 0
    this.#hasPeerFailed = false
    this.#metrics.connectionsOpened++
    const ids = this.#unsent
    this.#unsent = []
    for (const id of ids) {
      const call = this.#pending.get(id)
      if (call !== undefined) this.#write(call)
    }
  }

  #onData(socket: Socket, decoder: FrameDecoder, chunk: Buffer): void {
    if (socket !== this.#socket) return // dropped: what it still delivers is not wanted
    // Any byte shows the connection is alive: the silence window starts again now for the
    // calls still owed (#settledSent ends it when the last of them is answered).
    if (this.#owedSinceMs !== undefined) this.#owedSinceMs = performance.now()
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
    this.#writer = undefined
    this.#hasPeerFailed = true
    if (this.#isConnected) this.#lose('connection lost')
    else {
      this.#metrics.connectFailures++
      this.#consecutiveFailures++
      this.#lastFailureAtMs = performance.now()
      // The dial failed: calls that do not wait for a connection fail now, unsent (taken out
      // of the unsent list first, in one pass, so failing each does not search it again).
      const failing = this.#unsent.filter((id) => this.#pending.get(id)?.waitForConnection !== true)
      if (failing.length > 0) {
        this.#unsent = this.#unsent.filter(
          (id) => this.#pending.get(id)?.waitForConnection === true,
        )
        const error = this.#unavailableError()
        for (const id of failing) {
          this.#metrics.unavailable++
          this.#fail(id, error)
        }
      }
    }
    if (this.#unsent.length > 0) this.#ensureConnecting()
  }

  #unavailableError(): RpcError {
    const { host, port } = this.#options
    return new RpcError(
      RPC_ERROR_CODES.unavailable,
      `cannot connect to ${host}:${port} (${this.#consecutiveFailures} failed dial(s)); not sent`,
    )
  }
}
