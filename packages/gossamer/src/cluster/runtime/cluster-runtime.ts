/**
 * The cluster runtime of one node (architecture §5–7): membership (memberlist + the ownership
 * CRDT), placement computed from the ownership set, the RPC server and the pool of clients, and
 * the replication driver — assembled, started and stopped in the right order.
 *
 * Placement follows the ownership set's members only (liveness plays no part: a crash moves no
 * data; fallbacks take writes instead). When the set changes, the new placement is applied to
 * the replication driver together with the one the data is laid out by, which starts
 * rebalancing. A node that joins with an empty store (new, or wiped) or that had been removed
 * takes the placement without itself as the previous one, so it streams its partitions in and
 * reports ready only once they have arrived; a node restarting on its data does not re-stream
 * (hinted handoff and anti-entropy bring it up to date).
 *
 * Graceful leave (`leave()`): mark this node `leaving` → the others' placements drop it and
 * they pull its partitions → wait until every outbound handoff is acknowledged and every hint
 * delivered (bounded by `leaveTimeoutMs`) → mark it `removed` → leave memberlist.
 */

import { networkInterfaces } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { NodeConfig } from '../../config.ts'
import type { HybridLogicalClock } from '../../hlc/hlc.ts'
import type { Logger } from '../../log.ts'
import type { Consistency } from '../../replication/consistency.ts'
import { LmdbHintStore } from '../../replication/hint-store-lmdb.ts'
import type { HintStore } from '../../replication/hinted-handoff.ts'
import { MemoryHintStore } from '../../replication/hinted-handoff.ts'
import { ownersBeforeStart } from '../../replication/rebalance.ts'
import { computePlacement, type Placement } from '../../ring/partitioner.ts'
import { RpcServer } from '../../rpc/server.ts'
import type { Engine, ScanPage } from '../../storage/engine.ts'
import {
  isOwnerIn,
  namesInState,
  type OwnershipSet,
  members as ownershipMembers,
} from '../ownership.ts'
import { answerScan, listCluster, SCAN_ALL_PARTITIONS } from './cluster-listing.ts'
import { type ClusterState, ClusterStateWriter, readClusterState } from './cluster-state-file.ts'
import { Membership } from './membership.ts'
import { ReplicationDriver } from './replication-driver.ts'
import { RpcPeerTransport, replicationServerHandlers } from './rpc-transport.ts'

/** What the runtime is built from. */
export interface ClusterRuntimeComponents {
  readonly config: Readonly<NodeConfig>
  readonly engine: Engine
  readonly hlc: HybridLogicalClock
  readonly logger: Logger
  readonly nowMs: () => number
  readonly onStorageFailure?: ((error: unknown) => void) | undefined
}

/** One row of `GET /v1/cluster/members`. */
export interface MemberRow {
  readonly name: string
  readonly address: string
  readonly state: 'alive' | 'suspect' | 'dead' | 'left'
  readonly role: 'gossamer' | null
  readonly http: string | null
  readonly rpc: string | null
  readonly owner: boolean
}

/** One row of `GET /v1/cluster/partitions`. */
export interface PartitionRow {
  readonly partition: number
  readonly owners: readonly string[]
  readonly fallbacks: readonly string[]
  readonly handoff: 'none' | 'pending' | 'streaming' | 'done'
}

const POLL_MS = 50
/** A leave retries pushing its removal to the other owners this often (see `leave`). */
const REMOVAL_PUSH_RETRY_MS = 500

/** A running cluster runtime. Start with {@link ClusterRuntime.start}. */
export class ClusterRuntime {
  readonly name: string
  readonly #c: ClusterRuntimeComponents
  readonly #rpcServer: RpcServer
  readonly #hintStore: { close?: () => Promise<void> }
  #membership!: Membership
  #transport!: RpcPeerTransport
  /** Whether each owner was alive at the last membership change (to see it come back). */
  readonly #wasAlive = new Map<string, boolean>()
  /** Owners seen go from alive to down since; reset when seen alive again. */
  readonly #wentDown = new Set<string>()
  #driver!: ReplicationDriver
  #placement: Placement
  #applied: Placement | undefined
  #storeWasEmpty: boolean
  #persistedOwners: readonly string[] | undefined
  #isLeaving = false
  #isClosed = false
  #stateWriter: ClusterStateWriter | undefined
  rpcAddress = ''
  gossipAddress = ''

  private constructor(components: ClusterRuntimeComponents, rpcServer: RpcServer, hints: object) {
    this.#c = components
    this.name = components.config.name
    this.#rpcServer = rpcServer
    this.#hintStore = hints
    this.#placement = this.#compute([components.config.name])
    this.#storeWasEmpty = components.engine.stats().keyCount === 0
  }

  /** Starts RPC, the replication driver and membership; `httpUrl` goes into node metadata. */
  static async start(
    components: ClusterRuntimeComponents,
    httpUrl: string,
  ): Promise<ClusterRuntime> {
    const { config } = components
    const hintStore = await openHintStore(config)
    let runtime: ClusterRuntime | undefined
    const rpcServer = new RpcServer({
      host: config.bind,
      port: config.rpcPort,
      handlers: {
        ...replicationServerHandlers(async (from, message) => {
          const driver = runtime?.driverIfStarted
          if (driver === undefined) throw new Error('node is starting')
          return driver.handle(from, message)
        }),
        scan: (request) => {
          const page = answerScan(components.engine, request, components.nowMs())
          const entries = [...page.entries]
          return page.cursor === undefined ? { entries } : { entries, cursor: page.cursor }
        },
      },
    })
    const rpcBound = await rpcServer.listen()
    runtime = new ClusterRuntime(components, rpcServer, hintStore)
    try {
      await runtime.#startParts(hintStore.port, httpUrl, rpcBound.port)
    } catch (error) {
      await runtime.close().catch(() => {})
      throw error
    }
    return runtime
  }

  async #startParts(hintStore: HintStorePort, httpUrl: string, rpcPort: number): Promise<void> {
    const { config, logger } = this.#c
    const advertiseIp = advertiseAddress(config)
    this.rpcAddress = `${hostPort(advertiseIp, rpcPort)}`
    this.#transport = new RpcPeerTransport({
      self: this.name,
      addressOf: (node) => this.#membership?.rpcAddressOf(node),
      callTimeoutMs: config.requestTimeoutMs,
      bindAddress: config.bind,
    })
    this.#driver = await ReplicationDriver.start(
      {
        self: this.name,
        engine: this.#c.engine,
        hlc: this.#c.hlc,
        hintStore,
        transport: this.#transport,
        placement: () => this.#placement,
        isReachable: (node) =>
          node === this.name ||
          ((this.#membership?.isAlive(node) ?? false) && !this.#transport.isFailing(node)),
        isOwner: (node) => {
          const ownership = this.#membership?.ownership
          return ownership === undefined || isOwnerIn(ownership, node)
        },
        nowMs: this.#c.nowMs,
        logger,
        syncOwnership: (nodes) => this.#membership?.syncWith(nodes),
        onStorageFailure: this.#c.onStorageFailure,
        dropPartition:
          this.#c.engine.partitionIndex === undefined
            ? undefined
            : (partition) => dropWholePartition(this.#c.engine, partition),
      },
      {
        requestTimeoutMs: config.requestTimeoutMs,
        tickIntervalMs: config.tickIntervalMs,
        tombstoneGraceMs: config.tombstoneGraceMs,
        maxClockSkewMs: config.maxClockSkewMs,
        antiEntropyIntervalMs: config.antiEntropyIntervalMs,
        antiEntropyRecordsPerSec: config.antiEntropyRecordsPerSec,
        handoffRecordsPerSec: config.handoffRecordsPerSec,
      },
    )
    const persisted = await this.#readPersistedState()
    // The ownership set the data is laid out by (`ownersBeforeStart`), when a member there.
    const ownership = persisted?.ownership
    this.#persistedOwners =
      ownership?.get(this.name)?.state === 'member' ? ownershipMembers(ownership) : undefined
    this.#membership = await Membership.start({
      name: this.name,
      bindAddr: config.bind,
      gossipPort: config.gossipPort,
      advertise: config.advertise === '' ? advertiseIp : config.advertise,
      preset: config.gossipPreset,
      secretKey: config.encrypt === '' ? undefined : Buffer.from(config.encrypt, 'base64'),
      join: seedsOf(joinList(config.join), persisted, this.name),
      initialOwnership: persisted?.ownership,
      partitionCount: config.partitions,
      httpUrl,
      rpcAddress: this.rpcAddress,
      reclaimAfterMs: config.reclaimAfterMs,
      reconnectIntervalMs: config.reconnectIntervalMs,
      logger,
      nowMs: this.#c.nowMs,
    })
    this.gossipAddress = this.#membership.gossipAddress
    this.#membership.on('change', () => this.#onMembershipChange())
    this.#onMembershipChange()
  }

  // The cluster state this node persisted before it stopped, if any (ignored when unreadable).
  async #readPersistedState(): Promise<ClusterState | undefined> {
    const { config, logger } = this.#c
    if (config.inMemory) return undefined
    this.#stateWriter = new ClusterStateWriter({
      dataDir: config.dataDir,
      partitionCount: config.partitions,
      onError: (error) => logger.warn({ err: error }, 'could not persist the cluster state'),
    })
    const read = await readClusterState(config.dataDir, config.partitions)
    if (!read.ok) {
      logger.warn({ reason: read.reason }, 'persisted cluster state ignored')
      return undefined
    }
    if (read.state !== undefined) {
      const owners = ownershipMembers(read.state.ownership)
      logger.info({ owners, peers: read.state.peers }, 'starting from the persisted cluster state')
    }
    return read.state
  }

  // Persists the ownership set and where the other owners were last seen (on every change).
  #persistState(ownership: OwnershipSet): void {
    if (this.#stateWriter === undefined || !this.#membership.hasJoined) return
    this.#stateWriter.offer({ ownership, peers: this.#membership.ownerGossipAddresses() })
  }

  /**
   * True once this node may coordinate requests: it has joined its seeds (a `--join` list, or the
   * other owners it persisted) and merged their ownership set by push/pull. Before that its
   * placement may be out of date — in the worst case "a cluster of one" reading its own stale
   * copy — so the API answers 503 NOT_READY instead.
   */
  get canCoordinate(): boolean {
    return !this.#isClosed && this.#membership.hasJoined
  }

  /** True when joined, no inbound handoff is left, and not leaving. */
  get isReady(): boolean {
    return (
      !this.#isClosed &&
      !this.#isLeaving &&
      this.#membership.hasJoined &&
      this.#applied !== undefined &&
      this.#driver.isReady
    )
  }

  /** The driver once started (RPC requests may arrive before). */
  get driverIfStarted(): ReplicationDriver | undefined {
    return this.#driver
  }

  /** The replication driver (the API's coordinator). */
  get driver(): ReplicationDriver {
    return this.#driver
  }

  /** The placement in force. */
  get placement(): Placement {
    return this.#placement
  }

  /** `GET /v1/cluster/members`. */
  members(): MemberRow[] {
    const ownership = this.#membership.ownership
    return this.#membership.members().map((member) => {
      const entry = ownership.get(member.name)
      return {
        name: member.name,
        address: member.address,
        state: member.state,
        role: member.meta === undefined ? null : 'gossamer',
        http: member.meta?.httpUrl ?? null,
        rpc: member.meta?.rpcAddress ?? null,
        owner: entry !== undefined && entry.state !== 'removed',
      }
    })
  }

  /** `GET /v1/cluster/partitions`. */
  partitions(): { partitionCount: number; replicas: number; partitions: PartitionRow[] } {
    const placement = this.#placement
    const isAlive = (node: string) => this.#membership.isAlive(node)
    const rows: PartitionRow[] = []
    for (let partition = 0; partition < placement.partitionCount; partition++) {
      rows.push({
        partition,
        owners: placement.preferenceList(partition),
        fallbacks: placement.fallbacks(partition, isAlive, placement.owners.length),
        handoff: this.#driver.handoffStateOf(partition),
      })
    }
    return {
      partitionCount: placement.partitionCount,
      replicas: placement.replicaCount,
      partitions: rows,
    }
  }

  /** Whether `name` is in the ownership set (any state) or a known member. */
  knows(name: string): boolean {
    return (
      this.#membership.ownership.has(name) ||
      this.#membership.members().some((m) => m.name === name)
    )
  }

  /** Operator removal: `name` leaves the ownership set (its partitions move to others). */
  removeMember(name: string): void {
    this.#membership.remove(name)
  }

  /**
   * One page of the live keys under `prefix` across the cluster (`GET /v1/kv?prefix=`): merged
   * from every reachable Gossamer node's local store, newest version per key; 503 when some
   * partition has fewer than `r` (quorum) of its replicas reachable. See cluster-listing.ts.
   */
  list(options: {
    prefix?: string | undefined
    after?: string | undefined
    limit: number
    r?: Consistency | undefined
  }): Promise<ScanPage> {
    const { config, engine } = this.#c
    const nowMs = this.#c.nowMs()
    const deadlineMs = Date.now() + config.requestTimeoutMs
    const sources = [...this.#membership.aliveGossamerNames()].filter(
      (node) => node === this.name || !this.#transport.isFailing(node),
    )
    const all = { partition: SCAN_ALL_PARTITIONS }
    return listCluster(
      {
        self: this.name,
        placement: this.#placement,
        sources,
        scanPeer: (node, after, limit) =>
          this.#transport.scan(
            node,
            { ...all, after, limit },
            { timeoutMs: config.requestTimeoutMs },
          ),
        scanLocal: (after, limit) => answerScan(engine, { ...all, after, limit }, nowMs),
        read: (key, r) => this.#driver.read({ key, r }),
        nowMs,
        isUsable: (record) => record.version.wallMs - nowMs <= config.maxClockSkewMs,
        isPastDeadline: () => Date.now() >= deadlineMs,
      },
      { ...options, r: options.r ?? 'quorum' },
    )
  }

  /** `GET /v1/admin/stats`. */
  adminStats(): {
    hintsPending: number
    handoffsPending: number
    antiEntropy: { rounds: number; repaired: number }
    keys: number
  } {
    const aae = this.#driver.antiEntropy
    return {
      hintsPending: this.#driver.hintsPending,
      handoffsPending: this.#driver.inboundPending() + this.#driver.outboundPending(),
      antiEntropy: { rounds: aae.rounds, repaired: aae.repaired },
      keys: this.#c.engine.stats().keyCount,
    }
  }

  /**
   * Graceful leave: hand off, then leave the ownership set and memberlist. Bounded by
   * `leaveTimeoutMs`; never throws.
   */
  async leave(): Promise<void> {
    if (this.#isClosed || this.#isLeaving) return
    this.#isLeaving = true
    const { config, logger } = this.#c
    const others = [...this.#membership.aliveGossamerNames()].filter((n) => n !== this.name)
    this.#membership.markLeaving()
    this.#onMembershipChange()
    if (others.length > 0) {
      const deadline = Date.now() + config.leaveTimeoutMs
      // Bounded by the deadline.
      while (Date.now() < deadline) {
        if (this.#driver.outboundPending() === 0 && this.#driver.hintsPending === 0) break
        await sleep(POLL_MS)
      }
      logger.info(
        {
          outboundPending: this.#driver.outboundPending(),
          hintsPending: this.#driver.hintsPending,
        },
        'hand-off finished; leaving',
      )
    }
    this.#membership.remove(this.name)
    if (others.length > 0) {
      // The removal must reach another owner before this node goes quiet: gossip alone may
      // reach nobody when the others just crashed or are down, and then, once this node is
      // gone, nobody ever holds its removal (whole-cluster simulator, swarm seed 5193: it
      // stayed an owner for good; the runtime reclaims it only after reclaimAfterMs). So push
      // the state to the other owners until one takes it, bounded by leaveTimeoutMs again.
      const deadline = Date.now() + config.leaveTimeoutMs
      let reached = await this.#membership.pushStateToOwners()
      // Bounded by the deadline.
      while (reached === 0 && Date.now() < deadline) {
        await sleep(REMOVAL_PUSH_RETRY_MS)
        reached = await this.#membership.pushStateToOwners()
      }
      if (reached === 0) {
        logger.warn(
          "no other owner took this node's removal before leaveTimeoutMs; the cluster will " +
            'reclaim it after reclaimAfterMs, or remove it with DELETE /v1/cluster/members/{name}',
        )
      }
      // Give the removal a few gossip rounds before going quiet.
      await sleep(Math.min(2_000, 5 * this.#gossipIntervalMs()))
      await this.#membership.leave(Math.min(5_000, config.leaveTimeoutMs + 1))
    }
  }

  /** Stops membership, the driver, RPC and the hint store. Idempotent. */
  async close(): Promise<void> {
    if (this.#isClosed) return
    this.#isClosed = true
    await this.#membership?.close()
    await this.#driver?.close()
    await this.#transport?.close()
    await this.#rpcServer.close()
    await this.#hintStore.close?.()
    await this.#stateWriter?.flushed()
  }

  #gossipIntervalMs(): number {
    return this.#c.config.gossipPreset === 'local'
      ? 100
      : this.#c.config.gossipPreset === 'wan'
        ? 500
        : 200
  }

  #compute(owners: readonly string[]): Placement {
    return computePlacement(owners, {
      partitionCount: this.#c.config.partitions,
      replicaCount: this.#c.config.replicas,
    })
  }

  #onMembershipChange(): void {
    if (this.#isClosed) return
    const membership = this.#membership
    for (const name of membership.ownership.keys()) {
      const isAlive = membership.isAlive(name)
      // A peer that was alive, went down (suspect/dead, e.g. a partition) and is alive again
      // gets a fresh RPC connection at once: the old one may sit behind TCP's backed-off
      // retransmission timer. (Not a peer seen alive for the first time: a joiner's first
      // calls are in flight then.)
      if (!isAlive && this.#wasAlive.get(name) === true) this.#wentDown.add(name)
      if (isAlive && this.#wentDown.delete(name)) this.#transport.resetPeer(name)
      this.#wasAlive.set(name, isAlive)
      this.#driver.setReachable(name, isAlive)
    }
    this.#persistState(membership.ownership)
    const owners = ownershipMembers(membership.ownership)
    if (!sameNames(owners, this.#placement.owners)) {
      this.#placement = this.#compute(owners)
      this.#c.logger.info({ owners }, 'placement changed')
    }
    if (!membership.hasJoined) return
    if (this.#applied === this.#placement) return
    const previous = this.#previousFor(owners)
    this.#driver.applyPlacement(
      this.#placement,
      previous,
      namesInState(membership.ownership, 'leaving'),
    )
    this.#applied = this.#placement
  }

  // The placement the data is laid out by, before the one being applied now.
  #previousFor(owners: readonly string[]): Placement | undefined {
    if (this.#applied !== undefined) return this.#applied
    const before = ownersBeforeStart({
      self: this.name,
      owners,
      storeWasEmpty: this.#storeWasEmpty,
      rejoinedAfterRemoval: this.#membership.rejoinedAfterRemoval,
      persistedOwners: this.#persistedOwners,
    })
    if (before === undefined) return undefined
    if (this.#storeWasEmpty) this.#driver.scheduleAntiEntropyNow()
    return this.#compute(before)
  }
}

type HintStorePort =
  | HintStore
  | { apply: HintStore['apply'] | LmdbHintStore['applyAsync']; list: HintStore['list'] }

async function openHintStore(
  config: Readonly<NodeConfig>,
): Promise<{ port: HintStorePort; close?: () => Promise<void> }> {
  if (config.inMemory) return { port: new MemoryHintStore() }
  const store = await LmdbHintStore.open({
    path: `${config.dataDir}/hints`,
    durability: config.durability,
  })
  return {
    port: { apply: (writes) => store.applyAsync(writes), list: () => store.list() },
    close: async () => {
      await store.close()
    },
  }
}

// Removes a handed-off partition's records in bounded commits.
async function dropWholePartition(engine: Engine, partition: number): Promise<void> {
  for (let round = 0; round < 100_000; round++) {
    const { done } = await engine.dropPartition({ partition, limit: 1_000 })
    if (done) return
  }
}

// The addresses to join: the configured ones, plus — when the persisted ownership set has other
// members — where those were last seen, so a restarted node rejoins (and waits to have joined
// before it coordinates) even without `--join`.
function seedsOf(
  configured: readonly string[],
  persisted: ClusterState | undefined,
  self: string,
): string[] {
  const others = persisted === undefined ? [] : ownershipMembers(persisted.ownership)
  if (!others.some((name) => name !== self)) return [...configured]
  return [...new Set([...configured, ...persisted!.peers])]
}

function joinList(join: string): string[] {
  return join
    .split(',')
    .map((text) => text.trim())
    .filter((text) => text !== '')
}

function advertiseAddress(config: Readonly<NodeConfig>): string {
  if (config.advertise !== '') return config.advertise
  if (config.bind !== '0.0.0.0' && config.bind !== '::') return config.bind
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address
    }
  }
  return '127.0.0.1'
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i])
}
