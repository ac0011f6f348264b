/**
 * The encoded size of a packet message as Go's msgpack handle writes it (reference §2.2, §3):
 * structs as fixmaps with string keys, strings and byte slices in the str family (no str8),
 * nil byte slices as c0, smallest unsigned ints. The core needs sizes for the broadcast queue's
 * order and the UDP budget; a driver may inject the codec's exact sizer instead.
 */

import type { PacketMessage } from '../wire/messages.ts'

const textEncoder = new TextEncoder()

function rawBytes(length: number): number {
  if (length < 32) return 1 + length
  if (length < 65_536) return 3 + length
  return 5 + length
}

function str(value: string): number {
  return rawBytes(textEncoder.encode(value).length)
}

function bytesOrNil(value: Uint8Array | undefined): number {
  return value === undefined ? 1 : rawBytes(value.length)
}

function uint(value: number): number {
  if (value <= 127) return 1
  if (value <= 0xff) return 2
  if (value <= 0xffff) return 3
  return 5
}

/** Bytes of a map key (fixstr) plus its value. */
function field(key: string, valueBytes: number): number {
  return 1 + key.length + valueBytes
}

function sourceFields(m: {
  sourceAddr?: Uint8Array | undefined
  sourceNode?: string | undefined
  sourcePort?: number | undefined
}): { count: number; bytes: number } {
  let count = 0
  let bytes = 0
  if (m.sourceAddr !== undefined && m.sourceAddr.length > 0) {
    count++
    bytes += field('SourceAddr', rawBytes(m.sourceAddr.length))
  }
  if (m.sourceNode !== undefined && m.sourceNode.length > 0) {
    count++
    bytes += field('SourceNode', str(m.sourceNode))
  }
  if (m.sourcePort !== undefined && m.sourcePort !== 0) {
    count++
    bytes += field('SourcePort', uint(m.sourcePort))
  }
  return { count, bytes }
}

/** Encoded size (type byte included) of one packet message. */
export function estimateMessageBytes(message: PacketMessage): number {
  switch (message.type) {
    case 'ping': {
      const source = sourceFields(message)
      return (
        2 + field('Node', str(message.node)) + field('SeqNo', uint(message.seqNo)) + source.bytes
      )
    }
    case 'indirectPing': {
      const source = sourceFields(message)
      return (
        2 +
        field('Nack', 1) +
        field('Node', str(message.node)) +
        field('Port', uint(message.port)) +
        field('SeqNo', uint(message.seqNo)) +
        field('Target', rawBytes(message.target.length)) +
        source.bytes
      )
    }
    case 'ackResp':
      return 2 + field('Payload', bytesOrNil(message.payload)) + field('SeqNo', uint(message.seqNo))
    case 'nackResp':
      return 2 + field('SeqNo', uint(message.seqNo))
    case 'suspect':
    case 'dead':
      return (
        2 +
        field('From', str(message.from)) +
        field('Incarnation', uint(message.incarnation)) +
        field('Node', str(message.node))
      )
    case 'alive':
      return (
        2 +
        field('Addr', rawBytes(message.addr.length)) +
        field('Incarnation', uint(message.incarnation)) +
        field('Meta', bytesOrNil(message.meta)) +
        field('Node', str(message.node)) +
        field('Port', uint(message.port)) +
        field('Vsn', rawBytes(message.vsn.length))
      )
    case 'user':
      return 1 + message.payload.length
  }
}
