/**
 * A Gossamer node's memberlist metadata (architecture §5: a node's role and endpoints travel in
 * its memberlist metadata; members without the Gossamer role own nothing).
 *
 * memberlist carries at most 512 bytes of opaque metadata per node (`MetaMaxSize`), and a Go
 * memberlist node, or any other program in the cluster, may put anything there. So the encoding
 * starts with a 4-byte magic `GSMR`; anything without it, or malformed, or with a role other than
 * `gossamer`, decodes to `undefined` and that member owns nothing.
 *
 * Layout (meta format 1, integers big-endian):
 * `"GSMR"[u8 metaFormat=1][u16 rpcProtocolVersion][u32 partitionCount]`
 * `[u8 len][role][u8 len][http URL][u8 len][rpc host:port]`. Strings are UTF-8, at most 255 bytes.
 * A decoder for format 1 accepts a higher format and ignores bytes after the fields it knows, so
 * later formats may only append fields.
 */

/** The largest metadata memberlist accepts (its `MetaMaxSize`). */
export const NODE_META_MAX_BYTES = 512

/** Meta encoding format written by this version. */
export const NODE_META_FORMAT = 1

/** The role that owns data. */
export const GOSSAMER_ROLE = 'gossamer'

const MAGIC = [0x47, 0x53, 0x4d, 0x52] // "GSMR"
const FIXED_BYTES = MAGIC.length + 1 + 2 + 4

/** What a Gossamer node advertises about itself. */
export interface NodeMeta {
  /** Always `'gossamer'` for a decoded value (other roles decode to undefined). */
  readonly role: typeof GOSSAMER_ROLE
  /** Base URL of its HTTP API, e.g. `http://10.0.0.5:8080`. */
  readonly httpUrl: string
  /** Its node-to-node RPC endpoint, `host:port`. */
  readonly rpcAddress: string
  /** The RPC protocol version it speaks (see `src/rpc/codec.ts`). */
  readonly rpcProtocolVersion: number
  /** Partition count of its cluster (0 when unknown); nodes must agree on it. */
  readonly partitionCount: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Encodes node metadata. Throws `RangeError` when a string exceeds 255 bytes or the result
 * exceeds 512 bytes: this is the node's own configuration, checked at startup.
 */
export function encodeNodeMeta(meta: Omit<NodeMeta, 'role'>): Uint8Array {
  const strings = [GOSSAMER_ROLE, meta.httpUrl, meta.rpcAddress].map((s) => encoder.encode(s))
  if (strings.some((s) => s.length > 255)) throw new RangeError('node meta field over 255 bytes')
  if (!Number.isInteger(meta.rpcProtocolVersion) || meta.rpcProtocolVersion > 0xffff) {
    throw new RangeError('rpcProtocolVersion must be a u16')
  }
  const size = FIXED_BYTES + strings.reduce((sum, s) => sum + 1 + s.length, 0)
  if (size > NODE_META_MAX_BYTES) throw new RangeError('node meta over 512 bytes')
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  out[4] = NODE_META_FORMAT
  view.setUint16(5, meta.rpcProtocolVersion)
  view.setUint32(7, meta.partitionCount >>> 0)
  let at = FIXED_BYTES
  for (const s of strings) {
    out[at] = s.length
    out.set(s, at + 1)
    at += 1 + s.length
  }
  return out
}

/** Decodes metadata; `undefined` for foreign, malformed or non-Gossamer metadata. Never throws. */
export function decodeNodeMeta(bytes: Uint8Array): NodeMeta | undefined {
  if (bytes.length < FIXED_BYTES || bytes.length > NODE_META_MAX_BYTES) return undefined
  if (MAGIC.some((b, i) => bytes[i] !== b) || bytes[4] === 0) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const strings: string[] = []
  let at = FIXED_BYTES
  for (let i = 0; i < 3; i++) {
    const length = bytes[at]
    if (length === undefined || at + 1 + length > bytes.length) return undefined
    const text = utf8OrUndefined(bytes.subarray(at + 1, at + 1 + length))
    if (text === undefined) return undefined
    strings.push(text)
    at += 1 + length
  }
  if (bytes[4] === NODE_META_FORMAT && at !== bytes.length) return undefined
  const [role, httpUrl, rpcAddress] = strings as [string, string, string]
  if (role !== GOSSAMER_ROLE) return undefined
  return {
    role: GOSSAMER_ROLE,
    httpUrl,
    rpcAddress,
    rpcProtocolVersion: view.getUint16(5),
    partitionCount: view.getUint32(7),
  }
}

function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}
