/**
 * The Node driver: binds the sans-I/O memberlist core to real sockets and real time
 * (reference §1 for the transport, §4.5 for packet wrapping, §1.5–§1.7 for streams). It is the
 * only place where memberlist touches `dgram`, `net` and timers.
 *
 * The loop: every input (a datagram, an accepted stream's frame, a finished outbound stream,
 * the timer) becomes one synchronous core call, after which the driver drains the core's
 * outputs in order — packets are wrapped (compound, compression, CRC, AES-GCM, label) and
 * sent from the bound UDP socket; streams are dialled with the core's deadline and always
 * completed with exactly one `onStreamResult`; events and completions go to the hooks — and
 * re-arms its single timer for `core.nextDeadlineMs()`. Undecodable input is dropped and
 * counted in `metrics.malformedDropped`, never thrown.
 */

import type { Socket as UdpSocket } from 'node:dgram'
import { connect, isIPv4, type Server, type Socket } from 'node:net'
import type { MemberlistCore } from '../core/memberlist-core.ts'
import type { Address, CoreOutput, MemberEvent, StreamResult } from '../core/ports.ts'
import type { WireFailure } from '../wire/failure.ts'
import { maxDatagramBytes } from '../wire/limits.ts'
import type { StreamMessage } from '../wire/messages.ts'
import { decodePacket, encodePacket } from '../wire/packet.ts'
import { encodeStreamFrame, StreamDecoder, type StreamFeedResult } from '../wire/stream.ts'
import { bytesToIp, ipToBytes } from './addresses.ts'
import type { ResolvedOptions } from './options.ts'
import { cryptoRandomBytes, systemClock } from './system.ts'

/** Where the driver hands events and command completions. */
export interface DriverHooks {
  onEvent(event: MemberEvent): void
  onJoinComplete(joinId: number, successCount: number, errors: readonly string[]): void
  onLeaveComplete(timedOut: boolean): void
  onUpdateComplete(timedOut: boolean): void
}

/** Runs one core on one bound UDP socket + TCP listener. */
export class NodeDriver {
  readonly #core: MemberlistCore
  readonly #options: ResolvedOptions
  readonly #udp: UdpSocket
  readonly #tcp: Server
  readonly #hooks: DriverHooks
  readonly #streams = new Set<Socket>()
  #inboundStreams = 0
  /** Bytes held by inbound streams whose frame is not complete yet. */
  #inboundBufferedBytes = 0
  #timer: NodeJS.Timeout | undefined
  #armedDeadline: number | undefined
  #pumping = false
  #closed = false
  readonly #warned = new Set<string>()

  constructor(parts: {
    core: MemberlistCore
    options: ResolvedOptions
    udp: UdpSocket
    tcp: Server
    hooks: DriverHooks
  }) {
    this.#core = parts.core
    this.#options = parts.options
    this.#udp = parts.udp
    this.#tcp = parts.tcp
    this.#hooks = parts.hooks
    this.#udp.on('message', (datagram, rinfo) => this.#onDatagram(datagram, rinfo))
    this.#udp.on('error', (error) => this.#debugOnce('udp-error', `udp socket: ${error.message}`))
    this.#tcp.on('connection', (socket) => this.#onConnection(socket))
    this.#tcp.on('error', (error) => this.#debugOnce('tcp-error', `tcp listener: ${error.message}`))
  }

  /** Runs `call` against the core, then drains outputs and re-arms the timer. */
  run<T>(call: (core: MemberlistCore) => T): T {
    const result = call(this.#core)
    this.pump()
    return result
  }

  /** Drains and executes core outputs until none are left, then re-arms the timer. */
  pump(): void {
    if (this.#pumping) return // the outer loop picks up outputs of nested calls
    this.#pumping = true
    try {
      for (let rounds = 0; rounds < 10_000; rounds++) {
        const outputs = this.#core.takeOutputs()
        if (outputs.length === 0) break
        for (const output of outputs) this.#execute(output)
      }
    } finally {
      this.#pumping = false
    }
    this.#arm()
  }

  /** Stops timers, closes both sockets and aborts open streams. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const socket of this.#streams) socket.destroy()
    this.#streams.clear()
    await Promise.all([
      new Promise<void>((resolve) => this.#tcp.close(() => resolve())),
      new Promise<void>((resolve) => {
        try {
          this.#udp.close(() => resolve())
        } catch {
          resolve()
        }
      }),
    ])
  }

  // ---- time -----------------------------------------------------------------------------

  #arm(): void {
    if (this.#closed) return
    const next = this.#core.nextDeadlineMs()
    if (next === this.#armedDeadline && this.#timer !== undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedDeadline = next
    if (next === undefined) return
    const delayMs = Math.max(0, Math.ceil(next - systemClock.nowMs()))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#armedDeadline = undefined
      if (!this.#closed) this.run((core) => core.tick())
    }, delayMs)
  }

  // ---- outputs --------------------------------------------------------------------------

  #execute(output: CoreOutput): void {
    switch (output.kind) {
      case 'packet':
        this.#sendPacket(output)
        return
      case 'stream':
        this.#openStream(output)
        return
      case 'event':
        this.#hooks.onEvent(output.event)
        return
      case 'joinComplete':
        this.#hooks.onJoinComplete(output.joinId, output.successCount, output.errors)
        return
      case 'leaveComplete':
        this.#hooks.onLeaveComplete(output.timedOut)
        return
      case 'updateComplete':
        this.#hooks.onUpdateComplete(output.timedOut)
        return
    }
  }

  #sendPacket(output: Extract<CoreOutput, { kind: 'packet' }>): void {
    if (this.#closed || output.messages.length === 0) return
    if (!isDialable(output.to)) {
      // Hostile gossip can name port 0 or a 5-byte address; dgram would throw (port 0) or
      // resolve the text form through DNS. Go's send just fails; so does ours, quietly.
      this.#debugOnce('udp-undialable', `not sending to ${formatFrom(output.to)}`)
      return
    }
    let datagram: Uint8Array
    try {
      datagram = encodePacket(output.messages, {
        compress: this.#options.enableCompression,
        crc: (output.targetPMax ?? 0) >= 5,
        label: this.#options.label,
        keyring: this.#options.keyring,
        verifyOutgoing: this.#options.gossipVerifyOutgoing,
        randomBytes: cryptoRandomBytes,
        encryptionVersion: this.#core.config.protocolVersion < 2 ? 0 : 1,
      })
    } catch (error) {
      this.#warnOnce('encode-packet', `dropping an unencodable packet: ${String(error)}`)
      return
    }
    this.#core.metrics.bytesOut += datagram.length
    try {
      this.#udp.send(datagram, output.to.port, bytesToIp(output.to.ip), (error) => {
        if (error) this.#debugOnce('udp-send', `udp send failed: ${error.message}`)
      })
    } catch (error) {
      this.#debugOnce('udp-send', `udp send failed: ${String(error)}`)
    }
  }

  #frame(message: StreamMessage, dialer: boolean): Uint8Array {
    return encodeStreamFrame(message, {
      compress: this.#options.enableCompression,
      label: this.#options.label,
      writeLabelHeader: dialer,
      keyring: this.#options.keyring,
      verifyOutgoing: this.#options.gossipVerifyOutgoing,
      randomBytes: cryptoRandomBytes,
      encryptionVersion: this.#core.config.protocolVersion < 2 ? 0 : 1,
    })
  }

  #decoder(acceptor: boolean): StreamDecoder {
    return new StreamDecoder({
      readLabelHeader: acceptor,
      label: this.#options.label,
      skipInboundLabelCheck: this.#options.skipInboundLabelCheck,
      keyring: this.#options.keyring,
      verifyIncoming: this.#options.gossipVerifyIncoming,
    })
  }

  /** Dials `to`, writes one frame, optionally reads one reply; always reports exactly once. */
  #openStream(output: Extract<CoreOutput, { kind: 'stream' }>): void {
    let settled = false
    const finish = (result: StreamResult): void => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      socket.destroy()
      this.#streams.delete(socket)
      if (!this.#closed) this.run((core) => core.onStreamResult(output.requestId, result))
    }
    if (!isDialable(output.to)) {
      // Answer on a later turn, as for any failed dial, never from inside this pump.
      const error = `cannot dial ${formatFrom(output.to)}`
      setImmediate(() => {
        if (!this.#closed)
          this.run((core) => core.onStreamResult(output.requestId, { ok: false, error }))
      })
      return
    }
    const remainingMs = Math.max(1, output.deadlineMs - systemClock.nowMs())
    const host = bytesToIp(output.to.ip)
    const localAddress = sourceAddressFor(this.#options.bindAddr, host)
    const socket = connect(
      localAddress === undefined
        ? { host, port: output.to.port }
        : { host, port: output.to.port, localAddress },
    )
    this.#streams.add(socket)
    const deadline = setTimeout(
      () => finish({ ok: false, error: 'i/o timeout' }),
      Math.ceil(remainingMs),
    )
    socket.on('error', (error) => finish({ ok: false, error: error.message }))
    socket.on('close', () => finish({ ok: false, error: 'connection closed before a reply' }))
    socket.on('connect', () => {
      let frame: Uint8Array
      try {
        frame = this.#frame(output.message, true)
      } catch (error) {
        finish({ ok: false, error: `cannot encode stream frame: ${String(error)}` })
        return
      }
      this.#core.metrics.bytesOut += frame.length
      if (!output.expectsReply) {
        socket.end(frame, () => finish({ ok: true }))
        return
      }
      socket.write(frame)
      const decoder = this.#decoder(false)
      socket.on('data', (chunk) => {
        this.#core.metrics.bytesIn += chunk.length
        const fed = decoder.feed(chunk)
        if (fed.status === 'frame') finish({ ok: true, reply: fed.message })
        else if (fed.status === 'error') {
          this.#core.metrics.malformedDropped++
          finish({ ok: false, error: `${fed.reason}: ${fed.detail}` })
        }
      })
    })
  }

  // ---- inputs ---------------------------------------------------------------------------

  #onDatagram(datagram: Buffer, rinfo: { address: string; port: number }): void {
    if (this.#closed) return
    this.#core.metrics.bytesIn += datagram.length
    if (datagram.length > maxDatagramBytes) {
      this.#malformed(
        'packet',
        { reason: 'too-large', detail: `${datagram.length} bytes` },
        rinfo.address,
      )
      return
    }
    const ip = ipToBytes(rinfo.address)
    const decoded = decodePacket(datagram, {
      label: this.#options.label,
      skipInboundLabelCheck: this.#options.skipInboundLabelCheck,
      keyring: this.#options.keyring,
      verifyIncoming: this.#options.gossipVerifyIncoming,
    })
    if (!decoded.ok || ip === undefined) {
      this.#malformed('packet', decoded.ok ? undefined : decoded, rinfo.address)
      return
    }
    for (const failure of decoded.dropped) this.#malformed('compound part', failure, rinfo.address)
    if (decoded.messages.length === 0) return
    const from: Address = { ip, port: rinfo.port }
    this.run((core) => core.handlePacket(from, decoded.messages))
  }

  #onConnection(socket: Socket): void {
    if (this.#closed || this.#inboundStreams >= this.#options.maxInboundStreams) {
      socket.destroy()
      return
    }
    this.#inboundStreams++
    this.#streams.add(socket)
    const ip = ipToBytes(socket.remoteAddress ?? '')
    const from: Address = { ip: ip ?? new Uint8Array(4), port: socket.remotePort ?? 0 }
    const decoder = this.#decoder(true)
    let done = false
    let bufferedBytes = 0
    const release = (): void => {
      this.#inboundBufferedBytes -= bufferedBytes
      bufferedBytes = 0
    }
    const finish = (): void => {
      if (done) return
      done = true
      release()
      this.#inboundStreams--
      this.#streams.delete(socket)
      clearTimeout(deadline)
    }
    const deadline = setTimeout(() => {
      socket.destroy()
      finish()
    }, this.#core.config.tcpTimeoutMs)
    socket.on('error', () => finish())
    socket.on('close', () => finish())
    socket.on('data', (chunk) => {
      if (done) return
      this.#core.metrics.bytesIn += chunk.length
      bufferedBytes += chunk.length
      this.#inboundBufferedBytes += chunk.length
      if (this.#inboundBufferedBytes > this.#options.maxInboundBufferedBytes) {
        // Each frame has its own limit (20 MiB encrypted, 64 MiB plain); this one bounds
        // their sum over all concurrent inbound streams.
        this.#malformed(
          'stream',
          { reason: 'too-large', detail: 'inbound buffer budget' },
          formatFrom(from),
        )
        socket.destroy()
        finish()
        return
      }
      const fed = decoder.feed(chunk)
      if (fed.status !== 'needMore') release()
      this.#onInboundData(socket, from, fed)
    })
  }

  #onInboundData(socket: Socket, from: Address, fed: StreamFeedResult): void {
    if (fed.status === 'needMore' || fed.status === 'done') return
    if (fed.status === 'error') {
      // Go answers a stream it cannot parse with an errMsg before closing (§1.3).
      this.#malformed('stream', { reason: fed.reason, detail: fed.detail }, formatFrom(from))
      this.#reply(socket, { type: 'err', error: `${fed.reason}: ${fed.detail}` })
      return
    }
    const reply = this.run((core) => core.handleStream(from, fed.message))
    if (reply === undefined) socket.end()
    else this.#reply(socket, reply)
  }

  #reply(socket: Socket, message: StreamMessage): void {
    let frame: Uint8Array
    try {
      frame = this.#frame(message, false)
    } catch (error) {
      this.#warnOnce('encode-stream', `cannot encode a stream reply: ${String(error)}`)
      socket.end()
      return
    }
    this.#core.metrics.bytesOut += frame.length
    socket.end(frame)
  }

  // ---- diagnostics ----------------------------------------------------------------------

  #malformed(
    what: string,
    failure: Pick<WireFailure, 'reason' | 'detail'> | undefined,
    source: string,
  ): void {
    this.#core.metrics.malformedDropped++
    const reason = failure?.reason ?? 'bad-source'
    this.#debugOnce(
      `malformed-${what}-${reason}`,
      `dropped a malformed ${what} from ${source}: ${reason} ${failure?.detail ?? ''}`,
    )
  }

  #debugOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return
    this.#warned.add(key)
    this.#options.logger.debug?.(`memberlist ${this.#options.name}: ${message}`)
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return
    this.#warned.add(key)
    this.#options.logger.warn?.(`memberlist ${this.#options.name}: ${message}`)
  }
}

/** True for a 4- or 16-byte IP and a non-zero port: something dgram and net can reach. */
function isDialable(address: Address): boolean {
  const { ip, port } = address
  return (
    (ip.length === 4 || ip.length === 16) && Number.isInteger(port) && port > 0 && port <= 65535
  )
}

function formatFrom(address: Address): string {
  return `${bytesToIp(address.ip)}:${address.port}`
}

/**
 * The source address of an outgoing stream: the bind address when it is a specific one of the
 * target's family (as Go memberlist binds its UDP socket), so peers and packet filters see
 * which node a connection comes from; otherwise the kernel's choice.
 */
export function sourceAddressFor(bindAddr: string, host: string): string | undefined {
  if (bindAddr === '0.0.0.0' || bindAddr === '::' || bindAddr === '') return undefined
  if (isIPv4(bindAddr) !== isIPv4(host)) return undefined
  // A loopback source cannot reach another machine.
  return isLoopback(bindAddr) && !isLoopback(host) ? undefined : bindAddr
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1'
}
