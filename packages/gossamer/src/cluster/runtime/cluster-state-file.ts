/**
 * The node's last known cluster state on disk (architecture §5): the ownership set and the
 * gossip addresses of the other Gossamer members it last saw alive, in
 * `<dataDir>/cluster-state.json`.
 *
 * Why: a node that restarts must not coordinate requests with a placement computed from itself
 * alone (a "cluster of one" reads its own, possibly stale, copy and calls that a quorum). With
 * the persisted set it starts from the placement the cluster had when it went down, and with
 * the persisted addresses it can rejoin even when it was started without `--join`. The file is
 * written on every change of either (write to a temp file, fsync, rename, fsync the directory),
 * so a crash leaves the old file or the new one, never half of one. It is a cache of what the
 * cluster gossips anyway: a missing or unreadable file is logged and ignored (the node then
 * starts from itself alone, as a new node does).
 */
import { open, readFile, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { decodeOwnership, encodeOwnership, type OwnershipSet } from '../ownership.ts'

/** File name of the persisted cluster state inside the data directory. */
export const CLUSTER_STATE_FILE = 'cluster-state.json'

/** Format version written in the file. */
const FORMAT = 1
/** Most peer addresses kept (a bound on the file and on join attempts). */
const PEERS_MAX = 64

/** What the file holds. */
export interface ClusterState {
  readonly ownership: OwnershipSet
  /** Gossip addresses (`host:port`) of other Gossamer members last seen alive. */
  readonly peers: readonly string[]
}

/** Result of reading the file: a state, nothing (no file), or why it was ignored. */
export type ClusterStateRead =
  | { readonly ok: true; readonly state: ClusterState | undefined }
  | { readonly ok: false; readonly reason: string }

/** Reads the persisted state of `dataDir`. Never throws. */
export async function readClusterState(
  dataDir: string,
  partitionCount: number,
): Promise<ClusterStateRead> {
  let text: string
  try {
    text = await readFile(join(dataDir, CLUSTER_STATE_FILE), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, state: undefined }
    return { ok: false, reason: (error as Error).message }
  }
  return parseClusterState(text, partitionCount)
}

/** Parses the file's text. Total: malformed input is a reason, never an exception. */
export function parseClusterState(text: string, partitionCount: number): ClusterStateRead {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (typeof json !== 'object' || json === null) return { ok: false, reason: 'not an object' }
  const fields = json as Record<string, unknown>
  if (fields.format !== FORMAT) return { ok: false, reason: 'unknown format' }
  // A state from a layout with another partition count describes another cluster.
  if (fields.partitions !== partitionCount) return { ok: false, reason: 'partition count differs' }
  if (typeof fields.ownership !== 'string') return { ok: false, reason: 'no ownership' }
  const decoded = decodeOwnership(Buffer.from(fields.ownership, 'base64'))
  if (!decoded.ok) return { ok: false, reason: `ownership: ${decoded.reason}` }
  const peers = Array.isArray(fields.peers)
    ? fields.peers.filter((p): p is string => typeof p === 'string' && p.length <= 300)
    : []
  return { ok: true, state: { ownership: decoded.value, peers: peers.slice(0, PEERS_MAX) } }
}

/** Encodes a state as the file's text. */
export function formatClusterState(state: ClusterState, partitionCount: number): string {
  return `${JSON.stringify({
    format: FORMAT,
    partitions: partitionCount,
    ownership: Buffer.from(encodeOwnership(state.ownership)).toString('base64'),
    peers: [...state.peers].sort().slice(0, PEERS_MAX),
  })}\n`
}

/**
 * Writes the state durably and atomically: a temp file, fsync, rename over the old file, fsync
 * of the directory (so the rename itself survives a power loss).
 */
export async function writeClusterState(
  dataDir: string,
  state: ClusterState,
  partitionCount: number,
): Promise<void> {
  const path = join(dataDir, CLUSTER_STATE_FILE)
  const temp = `${path}.tmp`
  const file = await open(temp, 'w')
  try {
    await file.writeFile(formatClusterState(state, partitionCount), 'utf8')
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(temp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/**
 * Serialises writes of the state: at most one write runs, and of the states offered meanwhile
 * only the newest is written next. Failures are reported, not thrown (the file is a cache).
 */
export class ClusterStateWriter {
  readonly #dataDir: string
  readonly #partitionCount: number
  readonly #onError: (error: unknown) => void
  #next: ClusterState | undefined
  #lastText = ''
  #running: Promise<void> | undefined

  constructor(options: {
    dataDir: string
    partitionCount: number
    onError: (error: unknown) => void
  }) {
    this.#dataDir = options.dataDir
    this.#partitionCount = options.partitionCount
    this.#onError = options.onError
  }

  /** Offers the current state; written unless identical to the last one written. */
  offer(state: ClusterState): void {
    this.#next = state
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined
    })
  }

  /** Resolves when every offered state has been written (or failed). */
  async flushed(): Promise<void> {
    // Bounded: each turn writes the newest state; offers stop when the node stops.
    for (let turn = 0; turn < 100 && this.#running !== undefined; turn++) await this.#running
  }

  async #drain(): Promise<void> {
    // Bounded: each turn consumes the newest offer; a turn without a new offer ends the loop.
    for (let turn = 0; turn < 1_000 && this.#next !== undefined; turn++) {
      const state = this.#next
      this.#next = undefined
      const text = formatClusterState(state, this.#partitionCount)
      if (text === this.#lastText) continue
      try {
        await writeClusterState(this.#dataDir, state, this.#partitionCount)
        this.#lastText = text
      } catch (error) {
        this.#onError(error)
      }
    }
  }
}
