/**
 * The membership driver (architecture §3, §5): binds a `Memberlist` (liveness, node metadata)
 * and the ownership CRDT (`../ownership.ts`, who owns data) to real sockets and timers.
 *
 * Liveness is not ownership. memberlist says who is alive now; the ownership set says who owns
 * data, and changes only on a join, a graceful leave, an operator's removal, or after a node has
 * been down longer than `reclaimAfterMs`. The set travels the way the original design spread
 * every change: each local change is queued as a small delta for memberlist's delegate
 * broadcasts (`getBroadcasts`), a node that learns something new from a broadcast re-broadcasts
 * it (memberlist does not re-gossip user broadcasts), and push/pull exchanges the whole state
 * (`localState` / `mergeRemoteState`), so every node converges on the same set.
 *
 * Reclaim is decided by one node only, deterministically: the lowest-named owner that is alive
 * removes an owner that has been down past the reclaim time. Nodes with a different partition
 * count are refused (their alive messages are vetoed, and a join that would merge with them
 * fails), so two clusters with different layouts never mix.
 */
import { EventEmitter } from 'node:events'
import { type Member, Memberlist, type NodeInfo, nodeAddress } from '@gossamer/memberlist'
import type { Logger } from '../../log.ts'
import { RPC_PROTOCOL_VERSION } from '../../rpc/codec.ts'
import { decodeNodeMeta, encodeNodeMeta, type NodeMeta } from '../node-meta.ts'
import {
  decodeOwnership,
  encodeOwnership,
  joinOwnership,
  leaveOwnership,
  mergeOwnership,
  type OwnershipSet,
  pickOwnership,
  removeOwnership,
  wouldChange,
} from '../ownership.ts'
import { ownershipSyncTargets } from '../ownership-sync.ts'

/** Prefix of our user broadcasts and push/pull state ("GSOW"), so foreign payloads are ignored. */
const OWNERSHIP_MAGIC = [0x47, 0x53, 0x4f, 0x57]

/** Settings of the membership driver. */
export interface MembershipOptions {
  readonly name: string
  readonly bindAddr: string
  readonly gossipPort: number
  /** Address advertised to peers; empty = the bind address. */
  readonly advertise: string
  readonly preset: 'lan' | 'wan' | 'local'
  /** AES key for gossip, or undefined for none. */
  readonly secretKey?: Uint8Array | undefined
  /** Addresses to join (empty: this node starts a cluster). */
  readonly join: readonly string[]
  /**
   * The ownership set this node persisted before it stopped (`cluster-state-file.ts`), so a
   * restarted node starts from the cluster's placement instead of a cluster of one.
   */
  readonly initialOwnership?: OwnershipSet | undefined
  readonly partitionCount: number
  /** This node's HTTP base URL and RPC address, advertised in metadata. */
  readonly httpUrl: string
  readonly rpcAddress: string
  /** An owner down for longer than this is removed from the ownership set. */
  readonly reclaimAfterMs: number
  /**
   * Serf-style reconnect: every this many ms (plus up to 25% jitter), push/pull with the owners
   * memberlist does not see alive, at their last known gossip address. Without it two sides
   * that declared each other dead during a partition never talk again (memberlist probes and
   * gossips only to live members). 0 disables. @default 10_000
   */
  readonly reconnectIntervalMs?: number | undefined
  readonly logger: Logger
  /** Wall clock, Unix ms. */
  readonly nowMs: () => number
}

/** One member as the cluster routes report it. */
export interface MemberView {
  readonly name: string
  readonly address: string
  readonly state: 'alive' | 'suspect' | 'dead' | 'left'
  readonly meta: NodeMeta | undefined
}

interface QueuedBroadcast {
  readonly names: readonly string[]
  readonly payload: Uint8Array
  transmitsLeft: number
}

/** Events: `change` when the ownership set, liveness or metadata changed (coalesced). */
export interface MembershipEvents {
  change: []
}

const JOIN_RETRY_MIN_MS = 100
const JOIN_RETRY_MAX_MS = 5_000
const RECLAIM_CHECK_MS = 1_000
const RECONNECT_INTERVAL_MS_DEFAULT = 10_000
/** Wait after a member's old address is declared dead before contacting its new one. */
const MOVED_CONTACT_DELAY_MS = 50
const BROADCAST_QUEUE_MAX = 256

/** The membership driver. Create with {@link Membership.start}. */
export class Membership extends EventEmitter<MembershipEvents> {
  readonly name: string
  readonly #options: MembershipOptions
  #memberlist!: Memberlist
  #ownership: OwnershipSet
  readonly #broadcasts: QueuedBroadcast[] = []
  readonly #downSinceMs = new Map<string, number>()
  // Alive-or-suspect members with their RPC address (undefined for non-Gossamer members), read
  // on every replica message: rebuilt from memberlist only after a join, leave or update event,
  // the only moments that set changes (suspect members stay in it), instead of copying every
  // member per call.
  #liveMembers: Map<string, string | undefined> | undefined
  #changeScheduled = false
  #isClosed = false
  readonly #lastSyncMs = new Map<string, number>()
  #hasJoined: boolean
  #joinAttempts = 0
  #rejoinedAfterRemoval = false
  #joinTimer: ReturnType<typeof setTimeout> | undefined
  #reclaimTimer: ReturnType<typeof setInterval> | undefined
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  /** Last gossip address seen for each Gossamer member, kept after memberlist reaps it. */
  readonly #lastGossipAddress = new Map<string, string>()
  // Nodes that announced themselves alive at a new gossip address while this node still held
  // their old address alive or suspect (`#onConflict`), by name.
  readonly #movedTo = new Map<string, string>()
  /** Resolves once this node has joined its seeds (at once when it has none). */
  readonly joined: Promise<void>
  #resolveJoined: () => void = () => {}

  private constructor(options: MembershipOptions) {
    super()
    this.name = options.name
    this.#options = options
    const persisted = options.initialOwnership ?? new Map()
    const mine = persisted.get(options.name)
    // A node the cluster had removed (or that was leaving) when it stopped joins again as a new
    // owner: it streams its partitions in instead of trusting its old copy.
    this.#rejoinedAfterRemoval = mine !== undefined && mine.state !== 'member'
    this.#ownership = mine?.state === 'member' ? persisted : joinOwnership(persisted, options.name)
    this.#hasJoined = options.join.length === 0
    this.joined = new Promise((resolve) => {
      this.#resolveJoined = resolve
    })
    if (this.#hasJoined) this.#resolveJoined()
  }

  /** Binds gossip, starts the protocol, and starts joining the seeds in the background. */
  static async start(options: MembershipOptions): Promise<Membership> {
    const membership = new Membership(options)
    membership.#memberlist = await Memberlist.create(
      {
        name: options.name,
        bindAddr: options.bindAddr,
        bindPort: options.gossipPort,
        advertiseAddr: options.advertise === '' ? undefined : options.advertise,
        preset: options.preset,
        // A node that restarts after a crash may come back on other ports (port 0): once its
        // old address is declared dead, the new one may take its name over at once.
        timings: { deadNodeReclaimTimeMs: 1 },
        secretKey: options.secretKey,
        logger: {
          debug: (message: string) => options.logger.debug({ memberlist: true }, message),
          warn: (message: string) => options.logger.warn({ memberlist: true }, message),
        },
      },
      membership.#delegates(),
    )
    const onMemberEvent = (member: Member) => membership.#onMemberEvent(member)
    membership.#memberlist.on('join', onMemberEvent)
    membership.#memberlist.on('leave', onMemberEvent)
    membership.#memberlist.on('update', onMemberEvent)
    membership.#reclaimTimer = setInterval(() => membership.#reclaim(), RECLAIM_CHECK_MS)
    membership.#reclaimTimer.unref()
    if (!membership.#hasJoined) membership.#tryJoin()
    membership.#scheduleReconnect()
    return membership
  }

  /** `ip:port` of this node's gossip endpoint. */
  get gossipAddress(): string {
    return this.#memberlist.localNode.address
  }

  /** True when the cluster remembered this node as removed or leaving when it joined. */
  get rejoinedAfterRemoval(): boolean {
    return this.#rejoinedAfterRemoval
  }

  /** True once the seeds were joined (always true without seeds). */
  get hasJoined(): boolean {
    return this.#hasJoined
  }

  /** The current ownership set. */
  get ownership(): OwnershipSet {
    return this.#ownership
  }

  /**
   * Gossip addresses of the other owners memberlist knows (alive, suspect or dead, not left):
   * where this node can rejoin after a restart.
   */
  ownerGossipAddresses(): string[] {
    const out: string[] = []
    for (const node of this.#memberlist.allNodes()) {
      if (node.name === this.name || node.state === 'left') continue
      if (this.#ownership.get(node.name)?.state !== 'member') continue
      if (decodeNodeMeta(node.meta) !== undefined) out.push(node.address)
    }
    return out
  }

  /** Every member memberlist knows, dead and left ones included until reaped. */
  members(): MemberView[] {
    return this.#memberlist.allNodes().map((node) => ({
      name: node.name,
      address: node.address,
      state: node.state as MemberView['state'],
      meta: decodeNodeMeta(node.meta),
    }))
  }

  /** True when `name` is alive or suspect (worth sending to); this node always is. */
  isAlive(name: string): boolean {
    if (name === this.name) return !this.#isClosed
    return this.#live().has(name)
  }

  /** Names of alive or suspect Gossamer members (this node included). */
  aliveGossamerNames(): Set<string> {
    const out = new Set<string>()
    for (const member of this.#memberlist.members()) {
      if (member.name === this.name || decodeNodeMeta(member.meta) !== undefined) {
        out.add(member.name)
      }
    }
    return out
  }

  /** The advertised RPC address of a live Gossamer member. */
  rpcAddressOf(name: string): string | undefined {
    if (name === this.name) return this.#options.rpcAddress
    return this.#live().get(name)
  }

  #live(): Map<string, string | undefined> {
    if (this.#liveMembers !== undefined) return this.#liveMembers
    const live = new Map<string, string | undefined>()
    for (const member of this.#memberlist.members()) {
      live.set(member.name, decodeNodeMeta(member.meta)?.rpcAddress)
    }
    this.#liveMembers = live
    return live
  }

  /** Marks this node `leaving` (it keeps its data until its partitions are handed off). */
  markLeaving(): void {
    this.#change(leaveOwnership(this.#ownership, this.name), [this.name])
  }

  /** Removes `name` from the ownership set (operator removal, the end of a graceful leave). */
  remove(name: string): void {
    this.#change(removeOwnership(this.#ownership, name), [name])
  }

  /**
   * Push/pull with the other owners memberlist knows (`ownerGossipAddresses`), so they merge
   * this node's ownership state now rather than by gossip; resolves how many were reached (0
   * when none could be). Never throws.
   */
  async pushStateToOwners(): Promise<number> {
    const addresses = this.ownerGossipAddresses()
    if (addresses.length === 0) return 0
    try {
      return await this.#memberlist.join(addresses)
    } catch {
      return 0
    }
  }

  /**
   * Push/pull with the live nodes of `names` now (`ownershipSyncTargets`: at most once a second
   * per node), so that this node and they
   * exchange ownership state at once rather than by gossip: a coordinator whose requests they
   * refused because they place the partition differently (the placement fence) catches up, or
   * brings them up to date, before its retry. Fire and forget; never throws.
   */
  syncWith(names: readonly string[]): void {
    // Off with the reconnect (`reconnectIntervalMs: 0`): both push/pull outside memberlist's
    // own schedule, and a healed split may be left standing only with both off.
    if (this.#isClosed || (this.#options.reconnectIntervalMs ?? 1) <= 0) return
    const nodes = new Map(this.#memberlist.allNodes().map((node) => [node.name, node]))
    const targets = ownershipSyncTargets({
      self: this.name,
      candidates: names,
      isLive: (name) => {
        const state = nodes.get(name)?.state
        return state === 'alive' || state === 'suspect'
      },
      lastSyncMs: this.#lastSyncMs,
      nowMs: this.#options.nowMs(),
    })
    if (targets.length === 0) return
    this.#memberlist.join(targets.map((name) => nodes.get(name)!.address)).catch(() => {})
  }

  /** Broadcasts a graceful leave and stops gossip. Never throws. */
  async leave(timeoutMs: number): Promise<void> {
    try {
      await this.#memberlist.leave(timeoutMs)
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'memberlist leave did not complete')
    }
  }

  /** Stops timers and sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.#isClosed) return
    this.#isClosed = true
    clearTimeout(this.#joinTimer)
    clearInterval(this.#reclaimTimer)
    clearTimeout(this.#reconnectTimer)
    this.#resolveJoined()
    await this.#memberlist.shutdown()
  }

  /** Queued ownership broadcasts (for tests and metrics). */
  get queuedBroadcasts(): number {
    return this.#broadcasts.length
  }

  #delegates() {
    return {
      nodeMeta: () =>
        encodeNodeMeta({
          httpUrl: this.#options.httpUrl,
          rpcAddress: this.#options.rpcAddress,
          rpcProtocolVersion: RPC_PROTOCOL_VERSION,
          partitionCount: this.#options.partitionCount,
        }),
      notifyMsg: (payload: Uint8Array) => this.#mergeFrom(payload),
      getBroadcasts: (overheadBytes: number, limitBytes: number) =>
        this.#takeBroadcasts(overheadBytes, limitBytes),
      localState: () => withMagic(encodeOwnership(this.#ownership)),
      mergeRemoteState: (state: Uint8Array) => this.#mergeFrom(state),
      notifyAlive: (peer: NodeInfo) => this.#partitionMismatch([peer]),
      notifyMerge: (peers: readonly NodeInfo[]) => this.#partitionMismatch(peers),
      notifyConflict: (_existing: NodeInfo, other: NodeInfo) => this.#onConflict(other),
    }
  }

  #partitionMismatch(peers: readonly NodeInfo[]): string | undefined {
    for (const peer of peers) {
      const meta = decodeNodeMeta(peer.meta)
      if (meta === undefined || meta.partitionCount === 0) continue
      if (meta.partitionCount !== this.#options.partitionCount) {
        const why =
          `node ${peer.name} has ${meta.partitionCount} partitions, this node ` +
          `${this.#options.partitionCount}: refusing to mix the two clusters`
        this.#options.logger.error(why)
        return why
      }
    }
    return undefined
  }

  #mergeFrom(payload: Uint8Array): void {
    const body = withoutMagic(payload)
    if (body === undefined) return
    const decoded = decodeOwnership(body)
    if (!decoded.ok) {
      this.#options.logger.debug({ reason: decoded.reason }, 'malformed ownership state dropped')
      return
    }
    if (!wouldChange(this.#ownership, decoded.value)) return
    const changed = [...decoded.value.keys()].filter((name) => {
      const mine = this.#ownership.get(name)
      const theirs = decoded.value.get(name)!
      return mine === undefined || mine.version !== theirs.version || mine.state !== theirs.state
    })
    this.#change(mergeOwnership(this.#ownership, decoded.value), changed)
  }

  #change(next: OwnershipSet, names: readonly string[]): void {
    if (!wouldChange(this.#ownership, next)) return
    this.#ownership = mergeOwnership(this.#ownership, next)
    this.#queueBroadcast(names)
    this.#scheduleChange()
  }

  #queueBroadcast(names: readonly string[]): void {
    const delta = pickOwnership(this.#ownership, names)
    if (delta.size === 0) return
    const payload = withMagic(encodeOwnership(delta))
    // A newer delta for the same names replaces the queued one.
    for (let i = this.#broadcasts.length - 1; i >= 0; i--) {
      if (this.#broadcasts[i]!.names.every((name) => names.includes(name))) {
        this.#broadcasts.splice(i, 1)
      }
    }
    const n = this.#memberlist?.numMembers() ?? 1
    const transmits = this.#retransmitMult() * Math.max(1, Math.ceil(Math.log10(n + 1)))
    this.#broadcasts.push({ names: [...names], payload, transmitsLeft: transmits })
    while (this.#broadcasts.length > BROADCAST_QUEUE_MAX) this.#broadcasts.shift()
  }

  #retransmitMult(): number {
    return this.#memberlist?.config.retransmitMult ?? 4
  }

  #takeBroadcasts(overheadBytes: number, limitBytes: number): Uint8Array[] {
    const out: Uint8Array[] = []
    let used = 0
    for (const broadcast of this.#broadcasts) {
      const cost = overheadBytes + broadcast.payload.length
      if (used + cost > limitBytes) continue
      used += cost
      out.push(broadcast.payload)
      broadcast.transmitsLeft -= 1
    }
    for (let i = this.#broadcasts.length - 1; i >= 0; i--) {
      if (this.#broadcasts[i]!.transmitsLeft <= 0) this.#broadcasts.splice(i, 1)
    }
    return out
  }

  /**
   * A member restarted at a new address (a new port, a rescheduled container) while this node
   * still holds its old address alive or suspect. Memberlist ignores such an alive message as a
   * name conflict until the old address is declared dead; after that only a later push/pull
   * would bring the new one (memberlist's every `pushPullIntervalMs`, 15–60 s), and this node's
   * hints, reads and writes for it would wait that long. So the new address is kept, and once
   * the old one is dead it is the member's address for the reconnect, which runs at once
   * (`#onMemberEvent`, `#contactMoved`).
   */
  #onConflict(other: NodeInfo): void {
    if (this.#isClosed || decodeNodeMeta(other.meta) === undefined) return
    this.#movedTo.set(other.name, nodeAddress(other))
  }

  #onMemberEvent(member: Member): void {
    this.#liveMembers = undefined
    if (member.state !== 'left' && decodeNodeMeta(member.meta) !== undefined) {
      this.#lastGossipAddress.set(member.name, member.address)
    }
    const movedTo = this.#movedTo.get(member.name)
    if (movedTo !== undefined && member.state !== 'suspect') {
      this.#movedTo.delete(member.name)
      if (member.state === 'dead' && movedTo !== member.address) {
        this.#contactMoved(member.name, movedTo)
      }
    }
    if (member.state === 'dead' || member.state === 'left') {
      if (!this.#downSinceMs.has(member.name)) {
        this.#downSinceMs.set(member.name, this.#options.nowMs())
      }
    } else {
      this.#downSinceMs.delete(member.name)
    }
    this.#scheduleChange()
  }

  // A dead member's new address becomes the one the reconnect (`#reconnect`) pushes/pulls with,
  // and a reconnect runs once the old address may be taken over (`deadNodeReclaimTimeMs`, 1 ms
  // here; the margin covers a loopback round trip faster than that), not at its next interval.
  #contactMoved(name: string, address: string): void {
    this.#lastGossipAddress.set(name, address)
    setTimeout(() => this.#reconnect(), MOVED_CONTACT_DELAY_MS).unref()
  }

  #scheduleChange(): void {
    if (this.#changeScheduled || this.#isClosed) return
    this.#changeScheduled = true
    setImmediate(() => {
      this.#changeScheduled = false
      if (!this.#isClosed) this.emit('change')
    })
  }

  #tryJoin(): void {
    if (this.#isClosed) return
    this.#joinAttempts += 1
    this.#memberlist.join(this.#options.join).then(
      (contacted) => {
        if (this.#isClosed) return
        this.#hasJoined = true
        // Rejoin over whatever the cluster remembered about us (e.g. a removal before a restart).
        const mine = this.#ownership.get(this.name)
        if (mine?.state !== 'member') {
          this.#rejoinedAfterRemoval = true
          this.#change(joinOwnership(this.#ownership, this.name), [this.name])
        }
        this.#queueBroadcast([this.name])
        this.#options.logger.info({ contacted, attempts: this.#joinAttempts }, 'joined cluster')
        this.#resolveJoined()
        this.#scheduleChange()
      },
      (error: unknown) => {
        if (this.#isClosed) return
        const delayMs = Math.min(
          JOIN_RETRY_MAX_MS,
          JOIN_RETRY_MIN_MS * 2 ** Math.min(this.#joinAttempts, 10),
        )
        const jitteredMs = Math.round(delayMs * (0.75 + Math.random() * 0.5))
        this.#options.logger.warn(
          { err: error, attempt: this.#joinAttempts, retryInMs: jitteredMs },
          'join failed; retrying',
        )
        this.#joinTimer = setTimeout(() => this.#tryJoin(), jitteredMs)
        this.#joinTimer.unref()
      },
    )
  }

  #scheduleReconnect(): void {
    const intervalMs = this.#options.reconnectIntervalMs ?? RECONNECT_INTERVAL_MS_DEFAULT
    if (intervalMs <= 0 || this.#isClosed) return
    // Jitter keeps the nodes of a healed split from all dialling each other in the same instant.
    const delayMs = intervalMs + Math.floor(Math.random() * intervalMs * 0.25)
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnect()
      this.#scheduleReconnect()
    }, delayMs)
    this.#reconnectTimer.unref()
  }

  /** Push/pull with owners that memberlist does not see alive (see `reconnectIntervalMs`). */
  #reconnect(): void {
    if (this.#isClosed || !this.#hasJoined) return
    const live = this.#live()
    const addresses: string[] = []
    for (const [name, entry] of this.#ownership) {
      if (name === this.name || entry.state !== 'member' || live.has(name)) continue
      const address = this.#lastGossipAddress.get(name)
      if (address !== undefined) addresses.push(address)
    }
    if (addresses.length === 0) return
    this.#memberlist.join(addresses).then(
      (contacted) => this.#options.logger.info({ contacted, addresses }, 'reconnected to owners'),
      (error: unknown) =>
        this.#options.logger.debug({ err: error, addresses }, 'reconnect to owners failed'),
    )
  }

  // Removes owners down past the reclaim time; only the lowest-named live owner acts.
  #reclaim(): void {
    if (this.#isClosed || !this.#hasJoined) return
    const nowMs = this.#options.nowMs()
    const alive = new Set(this.#memberlist.members().map((m) => m.name))
    const liveOwners: string[] = []
    const downOwners: string[] = []
    for (const [name, entry] of this.#ownership) {
      if (entry.state === 'removed') continue
      if (alive.has(name)) liveOwners.push(name)
      else downOwners.push(name)
    }
    if (liveOwners.length === 0 || liveOwners.sort()[0] !== this.name) return
    for (const name of downOwners) {
      const since = this.#downSinceMs.get(name) ?? nowMs
      this.#downSinceMs.set(name, since)
      if (nowMs - since < this.#options.reclaimAfterMs) continue
      this.#options.logger.warn({ node: name }, 'owner down past the reclaim time; removing it')
      this.remove(name)
    }
  }
}

function withMagic(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(OWNERSHIP_MAGIC.length + body.length)
  out.set(OWNERSHIP_MAGIC, 0)
  out.set(body, OWNERSHIP_MAGIC.length)
  return out
}

function withoutMagic(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < OWNERSHIP_MAGIC.length) return undefined
  if (OWNERSHIP_MAGIC.some((byte, i) => payload[i] !== byte)) return undefined
  return payload.subarray(OWNERSHIP_MAGIC.length)
}
