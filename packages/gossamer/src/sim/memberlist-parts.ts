/**
 * The pieces of `@gossamer/memberlist` the simulator needs beyond its public entry point: the
 * seeded PRNG of its own simulator and its wire codec (so simulated gossip is round-tripped
 * through the real encoder and decoder). The package's `exports` map only exposes `.`, so they
 * are imported by relative path in this one file; when the package gains `./sim` and `./wire`
 * subpath exports, only this file changes.
 */
export { SeededRandom } from '../../../memberlist/src/sim/prng.ts'
export {
  decodePacketMessage,
  decodeStreamMessage,
  encodePacketMessage,
  encodeStreamMessage,
} from '../../../memberlist/src/wire/codec.ts'
export type { PacketMessage, StreamMessage } from '../../../memberlist/src/wire/messages.ts'
