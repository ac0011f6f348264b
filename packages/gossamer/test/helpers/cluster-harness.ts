/**
 * Multi-process cluster harness: runs real `gossamer agent` processes on loopback and gives tests
 * handles to kill, stop, restart and wipe them, plus small HTTP helpers to write, read and inspect
 * keys. Every child is spawned with port 0 (or, on a restart, its previous ports), a temp data
 * directory and `--gossip-preset local`; the harness parses each `listening` line for the actual
 * addresses. Every wait has a deadline, and `stop()` (call it in `after`) kills every child by PID
 * even when a test failed half-way; a process `exit` hook is the last backstop.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { compareVersions, parseVersion } from '../../src/hlc/version.ts'
import { partitionOf } from '../../src/ring/partitioner.ts'

/** The `gossamer` bin shim, run with the current Node. */
export const GOSSAMER_BIN = fileURLToPath(new URL('../../bin/gossamer.js', import.meta.url))

/** How long a node may take to print its listening line (tsx start-up on a loaded 2-core box). */
const START_DEADLINE_MS = 60_000
/** How long a signalled node may take to exit before it is SIGKILLed. */
const EXIT_DEADLINE_MS = 20_000
/** Per-HTTP-request timeout. */
const REQUEST_TIMEOUT_MS = 15_000
/** Default partition count of test clusters (env GOSSAMER_TEST_PARTITIONS overrides it). */
export const TEST_PARTITIONS = Number(process.env.GOSSAMER_TEST_PARTITIONS ?? 512)
/** Lines of stderr kept per node for failure messages. */
const STDERR_TAIL_LINES = 60

/** Every child any harness started and has not seen exit: killed on process exit as a backstop. */
const liveChildren = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of liveChildren) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
})

/** Addresses a node reported in its `listening` line. */
export interface NodeAddresses {
  readonly http: string
  readonly gossip: string
  readonly rpc: string
}

/** One agent process (the current incarnation; a restart replaces `child` and addresses). */
export interface ClusterNode {
  readonly name: string
  readonly dataDir: string
  /** Extra agent flags this node was started with (kept across restarts). */
  readonly extraArgs: readonly string[]
  /** Extra environment of this node (kept across restarts). */
  readonly env: Readonly<Record<string, string>>
  child: ChildProcess
  addresses: NodeAddresses
  /** True between a kill/stop and the next start. */
  down: boolean
  /** The last lines of stderr, for failure messages. */
  stderrTail: string[]
  /** Resolves when the current child exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Number of nodes to start. */
  readonly nodes: number
  /** `--replicas` for every node. @default 3 (the agent's own default when undefined) */
  readonly replicas?: number | 'all'
  /**
   * `--partitions` for every node. @default {@link TEST_PARTITIONS}, not the agent's 4096: a
   * joining node pulls every partition it gains, so forming a cluster takes time proportional to
   * the partition count; tests about placement quality pass their own count.
   */
  readonly partitions?: number
  /** Extra agent flags for every node. */
  readonly extraArgs?: readonly string[]
  /** Extra environment for every node. */
  readonly env?: Readonly<Record<string, string>>
  /** Name prefix; node i is `<prefix><i+1>`. @default 'n' */
  readonly namePrefix?: string
  /** Deadline for the whole cluster to converge (all alive, all ready). @default 90 s */
  readonly convergeDeadlineMs?: number
}

/** Per-node overrides of {@link Cluster.addNode} and {@link Cluster.restart}. */
export interface NodeStartOptions {
  readonly extraArgs?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
}

/** A versioned record as the harness sees it. */
export interface KeyRead {
  readonly status: number
  readonly value?: string
  readonly version?: string
  readonly body?: unknown
}

/** `GET /v1/admin/local/{key}`: the local replica's raw record. */
export interface LocalRecord {
  readonly key: string
  readonly version: string
  readonly tombstone: boolean
  readonly value: string | null
  readonly expiresAtMs?: number
}

export interface MemberView {
  readonly name: string
  readonly address: string
  readonly state: 'alive' | 'suspect' | 'dead' | 'left'
  readonly role: string | null
  readonly http: string | null
  readonly rpc: string | null
  readonly owner: boolean
}

export interface PartitionView {
  readonly partition: number
  readonly owners: readonly string[]
  readonly fallbacks: readonly string[]
  readonly handoff: 'none' | 'pending' | 'streaming' | 'done'
}

export interface PartitionsView {
  readonly partitionCount: number
  readonly replicas: number | 'all'
  readonly partitions: readonly PartitionView[]
}

export interface StatsView {
  readonly hintsPending: number
  readonly handoffsPending: number
  readonly antiEntropy: { readonly rounds: number; readonly repaired: number }
  readonly keys: number
}

/** Polls `check` every `intervalMs` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: { deadlineMs: number; intervalMs?: number },
): Promise<T> {
  const until = Date.now() + options.deadlineMs
  let lastError: unknown
  for (let attempt = 0; attempt < 100_000; attempt++) {
    try {
      const result = await check()
      if (result) return result
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= until) break
    await delay(options.intervalMs ?? 250)
  }
  const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
  throw new Error(`timed out after ${options.deadlineMs} ms waiting for ${what}${cause}`)
}

/** A real-time pause; only for polling loops in multi-process tests. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` in flight; rejects with the first
 * error after the in-flight tasks settle.
 */
export async function forEachBounded(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  let failure: unknown
  const worker = async () => {
    while (failure === undefined && next < count) {
      const i = next++
      try {
        await task(i)
      } catch (error) {
        failure ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  if (failure !== undefined) throw failure
}

/** A small seeded PRNG (mulberry32) so a test's choice of nodes repeats for a seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Compares two version strings (`<wallMs>-<logical>-<node>`); throws on a malformed one. */
export function compareVersionText(a: string, b: string): number {
  const va = parseVersion(a)
  const vb = parseVersion(b)
  if (va === undefined || vb === undefined) throw new Error(`malformed version: ${a} / ${b}`)
  return compareVersions(va, vb)
}

/** The N replicas of `key` according to a `/v1/cluster/partitions` answer. */
export function replicasOf(view: PartitionsView, key: string): readonly string[] {
  const entry = view.partitions[partitionOf(key, view.partitionCount)]
  if (entry === undefined) throw new Error(`partition of ${key} missing from the view`)
  return view.replicas === 'all' ? entry.owners : entry.owners.slice(0, view.replicas)
}

/**
 * Fraction of (partition, replica) slots in `after` whose node was not among the partition's
 * replicas in `before` — the same measure as docs/placement.md.
 */
export function movedFraction(before: PartitionsView, after: PartitionsView): number {
  let moved = 0
  let slots = 0
  for (const now of after.partitions) {
    const old = before.partitions[now.partition]
    if (old === undefined) throw new Error(`partition ${now.partition} missing before`)
    const oldSet = new Set(replicaSlice(before, old))
    for (const owner of replicaSlice(after, now)) {
      slots++
      if (!oldSet.has(owner)) moved++
    }
  }
  return slots === 0 ? 0 : moved / slots
}

function replicaSlice(view: PartitionsView, entry: PartitionView): readonly string[] {
  return view.replicas === 'all' ? entry.owners : entry.owners.slice(0, view.replicas)
}

/** A cluster of agent processes; create it with {@link startCluster}. */
export class Cluster {
  readonly nodes: ClusterNode[] = []
  readonly #root: string
  readonly #options: ClusterOptions
  readonly #prefix: string

  constructor(root: string, options: ClusterOptions) {
    this.#root = root
    this.#options = options
    this.#prefix = options.namePrefix ?? 'n'
  }

  /** Nodes currently running. */
  get up(): ClusterNode[] {
    return this.nodes.filter((n) => !n.down)
  }

  /** The node called `name`. */
  node(name: string): ClusterNode {
    const found = this.nodes.find((n) => n.name === name)
    if (found === undefined) throw new Error(`no node ${name}`)
    return found
  }

  /** The gossip address new nodes join through: the first running node's. */
  get seed(): string {
    const first = this.up[0]
    if (first === undefined) throw new Error('no running node to join through')
    return first.addresses.gossip
  }

  /** Starts one more node (joined to the cluster) and waits for its listening line. */
  async addNode(options: NodeStartOptions = {}): Promise<ClusterNode> {
    const name = `${this.#prefix}${this.nodes.length + 1}`
    const dataDir = join(this.#root, name)
    const node: ClusterNode = {
      name,
      dataDir,
      extraArgs: [...(this.#options.extraArgs ?? []), ...(options.extraArgs ?? [])],
      env: { ...this.#options.env, ...options.env },
      down: true,
      stderrTail: [],
    } as unknown as ClusterNode
    const seedAddress = this.up.length > 0 ? this.seed : undefined
    this.nodes.push(node)
    await this.#spawn(node, { join: seedAddress, ports: undefined })
    return node
  }

  /** SIGKILLs a node (a crash) and waits for it to exit. */
  async kill(name: string): Promise<void> {
    await this.#signal(this.node(name), 'SIGKILL')
  }

  /** SIGTERMs a node (a graceful stop: leave and hand off) and waits, bounded, for its exit. */
  async terminate(name: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#signal(this.node(name), 'SIGTERM')
  }

  /** Deletes a stopped node's data directory. */
  async wipe(name: string): Promise<void> {
    const node = this.node(name)
    if (!node.down) throw new Error(`wipe ${name}: the node is running`)
    await rm(node.dataDir, { recursive: true, force: true })
  }

  /**
   * Starts a stopped node again on its data directory, by default on the ports it reported
   * before (so peers find it where they last saw it), joining through a running node.
   */
  async restart(name: string, options: { samePorts?: boolean } = {}): Promise<ClusterNode> {
    const node = this.node(name)
    if (!node.down) throw new Error(`restart ${name}: the node is running`)
    const ports = options.samePorts === false ? undefined : portsOf(node.addresses)
    const others = this.up.filter((n) => n !== node)
    await this.#spawn(node, { join: others[0]?.addresses.gossip, ports })
    return node
  }

  /**
   * Waits until every running node lists every running node as an alive member and answers
   * `/v1/ready` with 200. `expectNotAlive` names nodes that must not be listed alive.
   */
  async waitConverged(
    options: { deadlineMs?: number; expectNotAlive?: readonly string[] } = {},
  ): Promise<void> {
    const names = this.up.map((n) => n.name)
    const notAlive = new Set(options.expectNotAlive ?? [])
    await waitFor(
      `members ${names.join(',')} alive and ready everywhere`,
      async () => {
        for (const node of this.up) {
          const members = await this.members(node.name)
          const alive = new Set(members.filter((m) => m.state === 'alive').map((m) => m.name))
          if (!names.every((n) => alive.has(n))) return false
          if ([...notAlive].some((n) => alive.has(n))) return false
          if (!(await this.isReady(node.name))) return false
        }
        return true
      },
      { deadlineMs: options.deadlineMs ?? this.#options.convergeDeadlineMs ?? 90_000 },
    )
  }

  /** Waits until `name` is seen as not alive (suspect, dead or left) by every running node. */
  async waitNotAlive(name: string, deadlineMs = 60_000): Promise<void> {
    await waitFor(
      `${name} not alive on every running node`,
      async () => {
        for (const node of this.up) {
          const members = await this.members(node.name)
          if (members.some((m) => m.name === name && m.state === 'alive')) return false
        }
        return true
      },
      { deadlineMs },
    )
  }

  /** `GET /v1/ready` is 200. */
  async isReady(name: string): Promise<boolean> {
    const response = await request(this.node(name), 'GET', '/v1/ready')
    return response.status === 200
  }

  async members(name: string): Promise<MemberView[]> {
    const body = await requestJson(this.node(name), 'GET', '/v1/cluster/members')
    return (body as { members: MemberView[] }).members
  }

  async partitions(name: string): Promise<PartitionsView> {
    return (await requestJson(this.node(name), 'GET', '/v1/cluster/partitions')) as PartitionsView
  }

  async stats(name: string): Promise<StatsView> {
    return (await requestJson(this.node(name), 'GET', '/v1/admin/stats')) as StatsView
  }

  /** Writes `value` to `key` through `name` on `/v1/kv`; resolves with status and version. */
  async put(
    name: string,
    key: string,
    value: string,
    options: { w?: string } = {},
  ): Promise<KeyRead> {
    const query = options.w === undefined ? '' : `?w=${options.w}`
    const response = await request(
      this.node(name),
      'PUT',
      `/v1/kv/${encodeURIComponent(key)}${query}`,
      { body: value, contentType: 'text/plain' },
    )
    const text = await response.text()
    const body = parseJson(text)
    const version = (body as { version?: string } | undefined)?.version
    return { status: response.status, ...(version === undefined ? {} : { version }), body }
  }

  /** Reads `key` through `name` on `/v1/kv`. */
  async get(name: string, key: string, options: { r?: string } = {}): Promise<KeyRead> {
    const query = options.r === undefined ? '' : `?r=${options.r}`
    const response = await request(
      this.node(name),
      'GET',
      `/v1/kv/${encodeURIComponent(key)}${query}`,
    )
    const text = await response.text()
    if (response.status !== 200) return { status: response.status, body: parseJson(text) }
    const etag = response.headers.get('etag')
    const version = etag === null ? undefined : etag.replace(/^"|"$/g, '')
    return { status: 200, value: text, ...(version === undefined ? {} : { version }) }
  }

  /** The local replica's raw record of `key` on `name`, or undefined on 404. */
  async local(name: string, key: string): Promise<LocalRecord | undefined> {
    const response = await request(
      this.node(name),
      'GET',
      `/v1/admin/local/${encodeURIComponent(key)}`,
    )
    const text = await response.text()
    if (response.status === 404) return undefined
    if (response.status !== 200) {
      throw new Error(`admin/local ${key} on ${name}: ${response.status} ${text.slice(0, 200)}`)
    }
    return JSON.parse(text) as LocalRecord
  }

  /** Any HTTP request to a node (original routes, DELETE /v1/cluster/members/..., ...). */
  async fetch(
    name: string,
    method: string,
    path: string,
    options: { body?: string; contentType?: string } = {},
  ): Promise<Response> {
    return request(this.node(name), method, path, options)
  }

  /** Diagnostic text: each node's last stderr lines. */
  describe(): string {
    return this.nodes
      .map((n) => `--- ${n.name} (${n.down ? 'down' : 'up'}) ---\n${n.stderrTail.join('\n')}`)
      .join('\n')
  }

  /**
   * Cleanup for `after` hooks: SIGKILLs every running node by PID (no graceful leave: the
   * cluster is being thrown away), waits for the exits and removes the data directories.
   */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.filter((n) => !n.down).map((n) => this.#signal(n, 'SIGKILL').catch(() => {})),
    )
    await rm(this.#root, { recursive: true, force: true })
  }

  async #spawn(
    node: ClusterNode,
    options: { join: string | undefined; ports: NodeAddressPorts | undefined },
  ): Promise<void> {
    const args = [
      GOSSAMER_BIN,
      'agent',
      '--name',
      node.name,
      '--data-dir',
      node.dataDir,
      '--http-port',
      String(options.ports?.http ?? 0),
      '--gossip-port',
      String(options.ports?.gossip ?? 0),
      '--rpc-port',
      String(options.ports?.rpc ?? 0),
      '--advertise',
      '127.0.0.1',
      '--gossip-preset',
      'local',
      '--log-format',
      'json',
      '--log-level',
      process.env.GOSSAMER_TEST_LOG_LEVEL ?? 'warn',
      ...(this.#options.replicas === undefined
        ? []
        : ['--replicas', String(this.#options.replicas)]),
      ...['--partitions', String(this.#options.partitions ?? TEST_PARTITIONS)],
      ...(options.join === undefined ? [] : ['--join', options.join]),
      ...node.extraArgs,
    ]
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...node.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    liveChildren.add(child)
    node.child = child
    node.down = false
    node.stderrTail = []
    node.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child)
        node.down = true
        resolve({ code, signal })
      })
    })
    createInterface({ input: child.stderr! }).on('line', (line) => {
      node.stderrTail.push(line)
      if (node.stderrTail.length > STDERR_TAIL_LINES) node.stderrTail.shift()
    })
    node.addresses = await readListening(node, child)
  }

  async #signal(
    node: ClusterNode,
    signal: NodeJS.Signals,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = node.child
    if (node.down || child.pid === undefined) return node.exited
    process.kill(child.pid, signal)
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
    }, EXIT_DEADLINE_MS)
    const result = await node.exited
    clearTimeout(timer)
    return result
  }
}

interface NodeAddressPorts {
  readonly http: number
  readonly gossip: number
  readonly rpc: number
}

function portsOf(addresses: NodeAddresses): NodeAddressPorts {
  const port = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))
  return {
    http: Number(new URL(addresses.http).port),
    gossip: port(addresses.gossip),
    rpc: port(addresses.rpc),
  }
}

/** Waits (bounded) for the `listening` JSON line on the child's stdout. */
function readListening(node: ClusterNode, child: ChildProcess): Promise<NodeAddresses> {
  const lines = createInterface({ input: child.stdout! })
  return new Promise<NodeAddresses>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${node.name}: no listening line in ${START_DEADLINE_MS} ms\n${tail(node)}`))
    }, START_DEADLINE_MS)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      // Let the stderr reader catch up so the message carries the reason.
      setTimeout(() => {
        reject(new Error(`${node.name} exited early (${code ?? signal})\n${tail(node)}`))
      }, 100)
    })
    lines.on('line', (line) => {
      const event = parseJson(line) as Record<string, unknown> | undefined
      if (event?.event !== 'listening') return
      clearTimeout(timer)
      resolve({ http: String(event.http), gossip: String(event.gossip), rpc: String(event.rpc) })
    })
  })
}

function tail(node: ClusterNode): string {
  return node.stderrTail.slice(-20).join('\n')
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

async function request(
  node: ClusterNode,
  method: string,
  path: string,
  options: { body?: string; contentType?: string } = {},
): Promise<Response> {
  return fetch(`${node.addresses.http}${path}`, {
    method,
    ...(options.body === undefined ? {} : { body: options.body }),
    headers: options.contentType === undefined ? {} : { 'content-type': options.contentType },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
}

async function requestJson(node: ClusterNode, method: string, path: string): Promise<unknown> {
  const response = await request(node, method, path)
  const text = await response.text()
  if (response.status !== 200) {
    throw new Error(`${method} ${path} on ${node.name}: ${response.status} ${text.slice(0, 200)}`)
  }
  return JSON.parse(text)
}

/**
 * Starts `options.nodes` agents: the first alone, the rest joined to it in parallel; then waits
 * until all of them see each other alive and are ready. On failure every child is killed.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), 'gossamer-cluster-'))
  const cluster = new Cluster(root, options)
  try {
    await cluster.addNode()
    const rest = Array.from({ length: options.nodes - 1 }, () => cluster.addNode())
    await Promise.all(rest)
    await cluster.waitConverged()
    return cluster
  } catch (error) {
    const diagnostics = cluster.describe()
    await cluster.stop()
    throw new Error(`${(error as Error).message}\n${diagnostics}`)
  }
}
