// Preloaded into agent processes of the network-fault scenarios (NODE_OPTIONS=--import ...):
// makes every outgoing TCP connection to a loopback address originate from this node's own
// address, GOSSAMER_RELIABILITY_SOURCE_ADDRESS (127.0.0.N). Without it the kernel picks
// 127.0.0.1 as the source of every loopback connection, and packet-filter rules could not tell
// which node sent a packet. UDP needs nothing: memberlist's socket is bound to the node's address.
import net from 'node:net'

const source = process.env.GOSSAMER_RELIABILITY_SOURCE_ADDRESS
if (source !== undefined && source !== '') {
  const connect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function connectFromSource(...args) {
    const first = args[0]
    const options = Array.isArray(first) ? first[0] : first
    if (
      options !== null &&
      typeof options === 'object' &&
      options.path === undefined &&
      options.localAddress === undefined &&
      typeof options.host === 'string' &&
      options.host.startsWith('127.')
    ) {
      options.localAddress = source
    }
    return connect.apply(this, args)
  }
}
