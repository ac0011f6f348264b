/**
 * Writes /tmp/gp/cases.json: frames and packets made by our encoder for the Go 0.2.2 cross-check
 * (see README.md). Deterministic; run with `node --import tsx`.
 */
import { writeFileSync } from 'node:fs'
import { encodePacket, encodeStreamFrame, Keyring } from '../../../src/wire/index.ts'

const key = Uint8Array.from({ length: 32 }, (_, i) => i)
const r = Keyring.create({ keys: [key] })
if (!r.ok) throw new Error()
let s = 1
const rnd = (n: number) =>
  Uint8Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff
    return s & 0xff
  })
const vsn = Uint8Array.of(1, 5, 2, 0, 0, 0)
const nodes = Array.from({ length: 150 }, (_, i) => ({
  name: `node-${i}`,
  addr: Uint8Array.of(10, 0, i >> 8, i & 255),
  port: 7946 + i,
  meta: i % 2 ? Uint8Array.of(0xff, i & 255) : undefined,
  incarnation: 70000 + i,
  state: (['alive', 'suspect', 'dead', 'left'] as const)[i % 4]!,
  vsn,
})).map((n) => (n.meta === undefined ? (({ meta, ...rest }) => rest)(n) : n))
const userState = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 255)
const pp = { type: 'pushPull' as const, join: true, nodes, userState }
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const cases = {
  streamV1: hex(
    encodeStreamFrame(pp, {
      compress: true,
      label: '',
      writeLabelHeader: false,
      keyring: r.keyring,
      verifyOutgoing: true,
      randomBytes: rnd,
    }),
  ),
  streamV0: hex(
    encodeStreamFrame(pp, {
      compress: false,
      label: '',
      writeLabelHeader: false,
      keyring: r.keyring,
      verifyOutgoing: true,
      randomBytes: rnd,
      encryptionVersion: 0,
    }),
  ),
  user: hex(
    encodeStreamFrame(
      { type: 'user', payload: userState },
      {
        compress: true,
        label: '',
        writeLabelHeader: false,
        verifyOutgoing: true,
        randomBytes: rnd,
      },
    ),
  ),
  udpV0: hex(
    encodePacket(
      [
        {
          type: 'alive',
          addr: Uint8Array.of(192, 168, 0, 1),
          incarnation: 3,
          node: 'ts-1',
          port: 7946,
          meta: Uint8Array.of(0xc0, 0xa8),
          vsn,
        },
        { type: 'suspect', incarnation: 9, node: 'x'.repeat(40), from: 'ts-1' },
        {
          type: 'alive',
          addr: Uint8Array.of(192, 168, 0, 1),
          incarnation: 3,
          node: 'ts-2',
          port: 7946,
          meta: Uint8Array.of(0xc0, 0xa8),
          vsn,
        },
        {
          type: 'alive',
          addr: Uint8Array.of(192, 168, 0, 1),
          incarnation: 3,
          node: 'ts-3',
          port: 7946,
          meta: Uint8Array.of(0xc0, 0xa8),
          vsn,
        },
        { type: 'user', payload: Uint8Array.of(1, 2, 3) },
      ],
      {
        compress: true,
        crc: true,
        label: '',
        keyring: r.keyring,
        verifyOutgoing: true,
        randomBytes: rnd,
        encryptionVersion: 0,
      },
    ),
  ),
}
writeFileSync('/tmp/gp/cases.json', JSON.stringify(cases))
