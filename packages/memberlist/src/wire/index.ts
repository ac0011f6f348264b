/**
 * The public wire API of memberlist's protocol (shared/reference/memberlist-wire-protocol.md):
 * message types, the msgpack codec, UDP packets (compound, CRC, LZW, AES-GCM, labels) and TCP
 * stream frames with an incremental decoder, plus the keyring. Everything here is sans-I/O;
 * only crypto.ts touches node:crypto, and its nonces come from an injected `randomBytes`.
 */

export {
  decodePacketMessage,
  decodeStreamMessage,
  encodePacketMessage,
  encodeStreamMessage,
  type PacketMessageResult,
  StreamBodyParser,
  type StreamBodyStep,
} from './codec.ts'
export {
  compoundHeaderOverhead,
  compoundPartOverhead,
  decodeCompound,
  encodeCompound,
  maxCompoundParts,
} from './compound.ts'
export { compressMessage, decompressMessage, lzwAlgo } from './compress.ts'
export { addCrc, crc32, stripCrc } from './crc.ts'
export {
  decryptPayload,
  type EncryptionVersion,
  type EncryptOptions,
  encryptedLength,
  encryptOverhead,
  encryptPayload,
  isValidKeyLength,
  type RandomBytes,
} from './crypto.ts'
export { type WireFailure, type WireFailureReason, wireFailure } from './failure.ts'
export { Keyring, type KeyringErrorCode, type KeyringResult } from './keyring.ts'
export {
  addLabelHeader,
  checkInboundLabel,
  labelBytes,
  labelOverhead,
  readLabelHeader,
} from './label.ts'
export {
  defaultWireLimits,
  labelMaxSize,
  maxDatagramBytes,
  metaMaxSize,
  type WireLimits,
} from './limits.ts'
export { lzwCompress, lzwDecompress } from './lzw.ts'
export * from './messages.ts'
export { decodeMsgpack, encodeMsgpack, type MsgpackValue, MsgpackWriter } from './msgpack.ts'
export {
  type DecodedPacket,
  decodePacket,
  encodePacket,
  type PacketDecodeOptions,
  type PacketEncodeOptions,
  type PacketPart,
} from './packet.ts'
export {
  encodeStreamFrame,
  type StreamDecodeOptions,
  StreamDecoder,
  type StreamEncodeOptions,
  type StreamFeedResult,
} from './stream.ts'
