/**
 * Binding memberlist's two channels on one port (reference §1.1): a TCP listener and a UDP
 * socket with the same port number, every datagram sent from that UDP socket so peers see our
 * gossip port as the source. With port 0 the TCP listener picks a free port and UDP binds the
 * same one, retrying a bounded number of times when UDP finds it taken (as Go's NetTransport).
 */

import { createSocket, type Socket } from 'node:dgram'
import { createServer, isIPv6, type Server } from 'node:net'

/** Largest UDP receive buffer we ask for (Go: 2 MiB, halved until the OS accepts). */
const UDP_RECV_BUFFER_BYTES = 2 * 1024 * 1024
/** Attempts at finding a port free for both TCP and UDP when binding port 0. */
const BIND_ATTEMPTS = 10

/** The bound pair. */
export interface BoundSockets {
  readonly udp: Socket
  readonly tcp: Server
  readonly port: number
}

function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true })
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}

function bindUdp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' })
    socket.once('error', reject)
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject)
      resolve(socket)
    })
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

function growReceiveBuffer(socket: Socket): void {
  for (let size = UDP_RECV_BUFFER_BYTES; size >= 64 * 1024; size /= 2) {
    try {
      socket.setRecvBufferSize(size)
      return
    } catch {
      // The OS refused this size; try half.
    }
  }
}

/** Binds TCP then UDP on `host:port` (port 0: a free port shared by both). */
export async function bindSockets(host: string, port: number): Promise<BoundSockets> {
  let lastError: unknown
  const attempts = port === 0 ? BIND_ATTEMPTS : 1
  for (let attempt = 0; attempt < attempts; attempt++) {
    const tcp = await listenTcp(host, port)
    const address = tcp.address()
    const bound = typeof address === 'object' && address !== null ? address.port : port
    try {
      const udp = await bindUdp(host, bound)
      growReceiveBuffer(udp)
      return { udp, tcp, port: bound }
    } catch (error) {
      lastError = error
      await closeServer(tcp)
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError))
}
