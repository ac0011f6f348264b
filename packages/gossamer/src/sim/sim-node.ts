/**
 * One simulated Gossamer node: the production cores bound to the simulator instead of sockets,
 * timers and LMDB (architecture §2, "a simulated driver binds the same core to a simulated
 * network and clock"). It mirrors the real runtime (`src/cluster/runtime/`):
 *
 * - membership: a `MemberlistCore` whose delegates spread the ownership CRDT
 *   (`cluster/ownership.ts`) as broadcast deltas and push/pull state, like `membership.ts`;
 * - placement from the ownership set's members (`ring/partitioner.ts`);
 * - replication: `WriteCoordinator` / `ReadCoordinator` per client request, the replica
 *   handlers, `HintedHandoff` over a durable `MemoryHintStore`, `AntiEntropy`, ticked every
 *   `tickMs`, with the runtime's call timeouts and clock-skew rules;
 * - storage: a `MemoryEngine` that holds only what is durable. Writes go through a simulated
 *   disk with a commit latency; replies that must follow a write are sent only after the commit
 *   (persist, then send). A crash drops every commit still in flight, so writes that were never
 *   acknowledged may be lost, acknowledged ones never — unless the `ackBeforePersist` bug switch
 *   is on;
 * - a wall clock per node (virtual time + an offset that faults skew and jump) feeding the HLC.
 *
 * A crash bumps `epoch`: every callback of the old process (timers, disk commits, replies in
 * flight) checks it and is dropped. Restart rebuilds the in-memory state from the durable parts
 * (engine, hint store) with a fresh HLC and ownership view, then rejoins, as a real restart does.
 */
import type { Address, CoreOutput, Delegates, MemberlistCore } from '@gossamer/memberlist'
import { MemberlistCore as Core, resolveConfig } from '@gossamer/memberlist'
import {
  decodeOwnership,
  encodeOwnership,
  joinOwnership,
  members,
  mergeOwnership,
  type OwnershipSet,
  pickOwnership,
  wouldChange,
} from '../cluster/ownership.ts'
import { HybridLogicalClock } from '../hlc/hlc.ts'
import { AntiEntropy } from '../replication/anti-entropy.ts'
import type { Consistency } from '../replication/consistency.ts'
import {
  type CoordinatorStep,
  ReadCoordinator,
  type ReadResult,
  WriteCoordinator,
  type WriteResult,
} from '../replication/coordinator.ts'
import { HashTree, scanPartitionEntries } from '../replication/hash-tree.ts'
import { HintedHandoff, type HintWrite, MemoryHintStore } from '../replication/hinted-handoff.ts'
import type {
  KeyedRecord,
  Outgoing,
  PutMessage,
  ReplicationMessage,
} from '../replication/messages.ts'
import { handleGet, handleHintDeliver, handlePut } from '../replication/replica.ts'
import { computePlacement, type Placement } from '../ring/partitioner.ts'
import type { StoredRecord, WriteEntry } from '../storage/engine.ts'
import { MemoryEngine } from '../storage/memory-engine.ts'
import type { EventQueue } from './event-queue.ts'
import type { SeededRandom } from './memberlist-parts.ts'
import type { SimOptions } from './options.ts'

/** Virtual time 0 is this wall-clock instant (Unix ms), so versions look like real ones. */
export const SIM_EPOCH_WALL_MS = 1_700_000_000_000

/** Largest skew a replica accepts (the HLC's `maxSkewMs`, as in the runtime's default). */
const MAX_CLOCK_SKEW_MS = 60_000
const TOMBSTONE_GRACE_MS = 864_000_000
const BROADCAST_QUEUE_MAX = 256
const RETRANSMIT_MULT = 4

/** What a node needs from the simulated world. */
export interface SimWorld {
  readonly options: SimOptions
  readonly queue: EventQueue
  readonly random: SeededRandom
  log(line: string): void
  sendGossip(from: SimNode, output: CoreOutput): void
  /** An RPC: exactly one of `onReply` / `onFailure` runs, unless the caller crashed. */
  call(
    from: SimNode,
    to: string,
    message: ReplicationMessage,
    timeoutMs: number,
    handlers: {
      onReply(reply: ReplicationMessage | undefined): void
      onFailure(why: string): void
    },
  ): void
  addressOf(name: string): Address
}

/** Answer of a request handler: a reply, or a failure the caller sees as an RPC error. */
export interface Responder {
  reply(message: ReplicationMessage | undefined): void
  fail(why: string): void
}

interface QueuedBroadcast {
  readonly names: readonly string[]
  readonly payload: Uint8Array
  transmitsLeft: number
}

interface PendingRequest<R> {
  readonly core: { tick(nowMs: number): CoordinatorStep<R>; readonly isSettled: boolean }
  readonly done: (result: R) => void
  isDone: boolean
}

/** Counters of one node (summed into the run summary). */
export interface SimNodeStats {
  /** Disk transactions (group commits). */
  commits: number
  /** Writes lost in a crash before they were committed. */
  droppedWrites: number
  skewRefusals: number
  readRepairs: number
}

/** One simulated node. See the module header. */
export class SimNode {
  readonly name: string
  readonly address: Address
  /** Durable data: survives crashes. */
  readonly engine = new MemoryEngine()
  /** Durable hints: survive crashes. */
  readonly hintStore = new MemoryHintStore()
  /**
   * The persisted cluster state (the runtime's `cluster-state.json`): the ownership set, written
   * on every change once joined, read at restart. Survives crashes. Off: `persistOwnership`.
   */
  persistedOwnership: OwnershipSet | undefined
  readonly stats: SimNodeStats = {
    commits: 0,
    droppedWrites: 0,
    skewRefusals: 0,
    readRepairs: 0,
  }
  epoch = 0
  isUp = false
  joined = false
  core!: MemberlistCore
  ownership: OwnershipSet = new Map()
  placement!: Placement
  hints!: HintedHandoff
  aae!: AntiEntropy
  hlc!: HybridLogicalClock
  /** Wall clock = virtual time + this offset (skew and jumps). */
  clockOffsetMs = 0
  /** Commit latency multiplier (slow disk). */
  diskFactor = 1
  readonly #world: SimWorld
  #random!: SeededRandom
  #broadcasts: QueuedBroadcast[] = []
  #writes = new Map<number, PendingRequest<WriteResult>>()
  #reads = new Map<number, PendingRequest<ReadResult>>()
  #nextRequestId = 1
  #isDiskBusy = false
  #inFlightBatch = 0
  #nextBatch: Array<{ readonly write: () => void; readonly afterCommit: () => void }> = []
  #gossipTickAtMs: number | undefined

  constructor(world: SimWorld, name: string) {
    this.#world = world
    this.name = name
    this.address = world.addressOf(name)
  }

  /** This node's wall clock, Unix ms (what the HLC and the replication cores see). */
  wallMs(): number {
    return SIM_EPOCH_WALL_MS + this.#world.queue.nowMs + this.clockOffsetMs
  }

  /** Whether `name` can be sent to: ourselves, or alive or suspect in our membership view. */
  readonly isReachable = (name: string): boolean => {
    if (name === this.name) return this.isUp
    const state = this.core.node(name)?.state
    return state === 'alive' || state === 'suspect'
  }

  /** Whether clients may use this node as a coordinator (up and joined, as the runtime). */
  get isReady(): boolean {
    return this.isUp && this.joined
  }

  /** Starts (or restarts) the process and joins `seeds` (none: it starts a cluster). */
  boot(seeds: readonly string[]): void {
    const world = this.#world
    const { options } = world
    this.isUp = true
    this.#random = world.random.fork(`driver:${this.name}:${this.epoch}`)
    const persisted = options.persistOwnership ? (this.persistedOwnership ?? new Map()) : new Map()
    this.ownership =
      persisted.get(this.name)?.state === 'member' ? persisted : joinOwnership(persisted, this.name)
    this.#broadcasts = []
    this.#placement()
    this.hints = new HintedHandoff({ deliveryTimeoutMs: options.requestTimeoutMs })
    this.hints.restore(this.hintStore.list())
    this.aae = this.#makeAntiEntropy()
    this.#setAntiEntropyPartitions()
    this.hlc = new HybridLogicalClock({
      nodeId: this.name,
      wallClockMs: () => this.wallMs(),
      maxSkewMs: MAX_CLOCK_SKEW_MS,
    })
    const config = resolveConfig(
      { name: this.name, advertiseAddr: this.address.ip, deadNodeReclaimTimeMs: 1 },
      'sim',
    )
    this.core = new Core(
      {
        clock: { nowMs: () => world.queue.nowMs },
        random: world.random.fork(`memberlist:${this.name}:${this.epoch}`),
        delegates: this.#delegates(),
      },
      config,
    )
    this.afterCall()
    this.joined = seeds.length === 0
    if (seeds.length > 0) this.#join(seeds)
    this.#scheduleTick()
    this.#scheduleReconnect()
  }

  /**
   * Serf-style reconnect (option `reconnectIntervalMs`; the runtime has none yet): every
   * interval, a joined node pushes/pulls with the owners memberlist does not see alive, so two
   * sides that declared each other dead during a partition find each other again after it.
   */
  #scheduleReconnect(): void {
    const intervalMs = this.#world.options.reconnectIntervalMs
    if (intervalMs <= 0) return
    const jitterMs = this.#random.float() * intervalMs * 0.25
    this.#world.queue.after(
      intervalMs + jitterMs,
      this.guard(() => {
        const lost = members(this.ownership).filter((name) => !this.isReachable(name))
        if (this.joined && lost.length > 0) {
          this.core.join(lost.map((name) => this.#world.addressOf(name)))
          this.afterCall()
        }
        this.#scheduleReconnect()
      }),
    )
  }

  /** Kills the process: in-memory state and un-committed writes are gone. */
  crash(): void {
    if (!this.isUp) return
    this.isUp = false
    this.joined = false
    this.epoch++
    this.core.shutdown()
    this.stats.droppedWrites += this.#inFlightBatch + this.#nextBatch.length
    this.#inFlightBatch = 0
    this.#nextBatch = []
    this.#isDiskBusy = false
    this.#gossipTickAtMs = undefined
    this.#writes = new Map()
    this.#reads = new Map()
  }

  /** A guard for callbacks: runs `fn` only if this process is still the one that asked. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    const epoch = this.epoch
    return (...args: A) => {
      if (this.isUp && this.epoch === epoch) fn(...args)
    }
  }

  // ---- membership ----

  /** Drains the memberlist core's outputs and re-arms its timer (after every call into it). */
  afterCall(): void {
    if (!this.isUp) return
    for (const output of this.core.takeOutputs()) this.#onGossipOutput(output)
    const deadline = this.core.nextDeadlineMs()
    if (deadline === undefined) return
    if (this.#gossipTickAtMs !== undefined && this.#gossipTickAtMs <= deadline) return
    this.#gossipTickAtMs = deadline
    // A tick that fires early is harmless (the core fires only what is due); a stale one that
    // fires after a newer deadline was armed just re-arms.
    this.#world.queue.at(
      deadline,
      this.guard(() => {
        this.#gossipTickAtMs = undefined
        this.core.tick()
        this.afterCall()
      }),
    )
  }

  #onGossipOutput(output: CoreOutput): void {
    switch (output.kind) {
      case 'packet':
      case 'stream':
        this.#world.sendGossip(this, output)
        return
      case 'event': {
        const { type, node } = output.event
        this.#world.log(`${this.name} member ${type} ${node.name} ${node.state}`)
        if (node.name === this.name) return
        this.hints.setReachable(node.name, node.state === 'alive' || node.state === 'suspect')
        return
      }
      case 'joinComplete':
        this.#onJoinComplete(output.joinId, output.successCount)
        return
      default:
        return
    }
  }

  #join(seeds: readonly string[]): void {
    this.#joinSeeds = seeds
    this.#bootJoinId = this.core.join(seeds.map((name) => this.#world.addressOf(name)))
    this.afterCall()
  }

  #joinSeeds: readonly string[] = []
  #bootJoinId = -1

  #onJoinComplete(joinId: number, successCount: number): void {
    if (joinId !== this.#bootJoinId) {
      if (successCount > 0) this.#world.log(`${this.name} reconnected to ${successCount} owner(s)`)
      return
    }
    if (successCount === 0) {
      const retryMs = 500 + this.#random.intBelow(500)
      this.#world.queue.after(
        retryMs,
        this.guard(() => this.#join(this.#joinSeeds)),
      )
      return
    }
    this.joined = true
    this.#world.log(`${this.name} joined via ${successCount} seed(s)`)
    if (this.ownership.get(this.name)?.state !== 'member') {
      this.#changeOwnership(joinOwnership(this.ownership, this.name), [this.name])
    }
    this.#queueBroadcast([this.name])
    this.#persistOwnership()
  }

  #persistOwnership(): void {
    if (this.joined && this.#world.options.persistOwnership)
      this.persistedOwnership = this.ownership
  }

  #delegates(): Delegates {
    return {
      notifyMsg: (payload) => this.#mergeOwnershipFrom(payload),
      getBroadcasts: (overheadBytes, limitBytes) => this.#takeBroadcasts(overheadBytes, limitBytes),
      localState: () => encodeOwnership(this.ownership),
      mergeRemoteState: (state) => this.#mergeOwnershipFrom(state),
    }
  }

  #mergeOwnershipFrom(payload: Uint8Array): void {
    const decoded = decodeOwnership(payload)
    if (!decoded.ok || !wouldChange(this.ownership, decoded.value)) return
    const changed = [...decoded.value].filter(([name, theirs]) => {
      const mine = this.ownership.get(name)
      return mine === undefined || mine.version !== theirs.version || mine.state !== theirs.state
    })
    this.#changeOwnership(
      mergeOwnership(this.ownership, decoded.value),
      changed.map(([name]) => name),
    )
  }

  #changeOwnership(next: OwnershipSet, names: readonly string[]): void {
    if (!wouldChange(this.ownership, next)) return
    this.ownership = mergeOwnership(this.ownership, next)
    // memberlist does not re-gossip user broadcasts: a node that learns something re-broadcasts.
    this.#queueBroadcast(names)
    this.#placement()
    this.#setAntiEntropyPartitions()
    this.#persistOwnership()
  }

  #queueBroadcast(names: readonly string[]): void {
    const delta = pickOwnership(this.ownership, names)
    if (delta.size === 0) return
    this.#broadcasts = this.#broadcasts.filter((b) => !b.names.every((n) => names.includes(n)))
    const transmits =
      RETRANSMIT_MULT * Math.max(1, Math.ceil(Math.log10(this.core.numMembers() + 1)))
    this.#broadcasts.push({ names, payload: encodeOwnership(delta), transmitsLeft: transmits })
    while (this.#broadcasts.length > BROADCAST_QUEUE_MAX) this.#broadcasts.shift()
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
    this.#broadcasts = this.#broadcasts.filter((b) => b.transmitsLeft > 0)
    return out
  }

  #placement(): void {
    const { partitionCount, replicaCount } = this.#world.options
    const owners = members(this.ownership)
    if (this.placement !== undefined && sameNames(this.placement.owners, owners)) return
    this.placement = computePlacement(owners, { partitionCount, replicaCount })
  }

  #setAntiEntropyPartitions(): void {
    if (this.aae === undefined) return
    const partitions: Array<{ partition: number; peers: string[] }> = []
    for (let partition = 0; partition < this.placement.partitionCount; partition++) {
      const replicas = this.placement.preferenceList(partition)
      if (!replicas.includes(this.name)) continue
      partitions.push({ partition, peers: replicas.filter((node) => node !== this.name) })
    }
    this.aae.setPartitions(partitions)
  }

  #makeAntiEntropy(): AntiEntropy {
    const { options } = this.#world
    return new AntiEntropy({
      store: this.engine,
      buildTree: (partition, shape, nowMs) =>
        new HashTree(
          shape,
          scanPartitionEntries({
            store: this.engine,
            partition,
            partitionOf: (key) => this.placement.partitionOf(key),
            nowMs,
            tombstoneGraceMs: TOMBSTONE_GRACE_MS,
          }),
        ),
      config: {
        intervalMs: options.antiEntropyIntervalMs,
        sessionTimeoutMs: Math.max(options.requestTimeoutMs, 2 * options.tickMs),
        maxConcurrentSessions: 4,
        tombstoneGraceMs: TOMBSTONE_GRACE_MS,
      },
    })
  }

  // ---- client requests (coordinator side) ----

  /** Coordinates a put (value) or delete (null). `done` runs once, unless this node crashes. */
  write(
    input: { key: string; value: Uint8Array | null; w: Consistency },
    done: (r: WriteResult) => void,
  ): void {
    const placement = this.placement
    const partition = placement.partitionOf(input.key)
    const replicas = placement.preferenceList(partition)
    const nowMs = this.wallMs()
    const core = new WriteCoordinator({
      requestId: this.#nextRequestId++,
      key: input.key,
      value: input.value,
      w: input.w,
      replicas,
      fallbacks: placement.orderedOwners(partition).slice(replicas.length),
      isReachable: this.isReachable,
      hlc: this.hlc,
      nowMs,
      deadlineMs: nowMs + this.#world.options.requestTimeoutMs,
    })
    const pending: PendingRequest<WriteResult> = { core, done, isDone: false }
    this.#writes.set(core.requestId, pending)
    this.#applyWrite(pending, core, core.start())
  }

  /** Coordinates a read; `done` runs once, unless this node crashes. */
  read(input: { key: string; r: Consistency }, done: (r: ReadResult) => void): void {
    const placement = this.placement
    const nowMs = this.wallMs()
    const timeoutMs = this.#world.options.requestTimeoutMs
    const core = new ReadCoordinator({
      requestId: this.#nextRequestId++,
      key: input.key,
      r: input.r,
      replicas: placement.preferenceList(placement.partitionOf(input.key)),
      isReachable: this.isReachable,
      nowMs,
      deadlineMs: nowMs + timeoutMs,
      repairDeadlineMs: nowMs + 2 * timeoutMs,
    })
    const pending: PendingRequest<ReadResult> = { core, done, isDone: false }
    this.#reads.set(core.requestId, pending)
    this.#applyRead(pending, core, core.start())
  }

  #applyWrite(
    pending: PendingRequest<WriteResult>,
    core: WriteCoordinator,
    step: CoordinatorStep<WriteResult>,
  ): void {
    for (const out of step.send) {
      this.#send(out, {
        onReply: (reply) => {
          const skewedStale =
            reply?.type === 'put-reply' &&
            reply.status === 'stale' &&
            reply.current !== undefined &&
            this.#isSkewedWallMs(reply.current.wallMs)
          const next =
            reply?.type !== 'put-reply' || skewedStale
              ? core.onFailure(out.to, this.wallMs())
              : core.onReply(out.to, reply, this.wallMs())
          this.#applyWrite(pending, core, next)
        },
        onFailure: () => this.#applyWrite(pending, core, core.onFailure(out.to, this.wallMs())),
      })
    }
    this.#complete(pending, step.completed)
    if (core.isSettled) this.#writes.delete(core.requestId)
  }

  #applyRead(
    pending: PendingRequest<ReadResult>,
    core: ReadCoordinator,
    step: CoordinatorStep<ReadResult>,
  ): void {
    for (const out of step.send) {
      if (out.message.type === 'put') {
        this.stats.readRepairs++
        this.#send(out, { onReply: () => {}, onFailure: () => {} })
        continue
      }
      this.#send(out, {
        onReply: (reply) => {
          if (reply?.type !== 'get-reply') {
            return this.#applyRead(pending, core, core.onFailure(out.to, this.wallMs()))
          }
          const usable = this.#isSkewed(reply.record) ? { ...reply, record: undefined } : reply
          this.#applyRead(pending, core, core.onReply(out.to, usable, this.wallMs()))
        },
        onFailure: () => this.#applyRead(pending, core, core.onFailure(out.to, this.wallMs())),
      })
    }
    if (step.completed?.ok && step.completed.newest !== undefined) {
      // The API layer lets the HLC observe what a read returned (causality for later writes).
      this.#observe(step.completed.newest.version)
    }
    this.#complete(pending, step.completed)
    if (core.isSettled) this.#reads.delete(core.requestId)
  }

  #complete<R>(pending: PendingRequest<R>, result: R | undefined): void {
    if (result === undefined || pending.isDone) return
    pending.isDone = true
    pending.done(result)
  }

  #observe(version: StoredRecord['version']): boolean {
    try {
      this.hlc.observe(version)
      return true
    } catch {
      return false
    }
  }

  #isSkewedWallMs(wallMs: number): boolean {
    return wallMs - this.wallMs() > MAX_CLOCK_SKEW_MS
  }

  #isSkewed(record: StoredRecord | undefined): boolean {
    return record !== undefined && this.#isSkewedWallMs(record.version.wallMs)
  }

  #send(
    out: Outgoing,
    handlers: {
      onReply(reply: ReplicationMessage | undefined): void
      onFailure(why: string): void
    },
  ): void {
    const type = out.message.type
    const timeoutMs = this.#world.options.requestTimeoutMs
    const callTimeoutMs = type === 'put' || type === 'get' ? timeoutMs / 2 : timeoutMs
    if (out.to !== this.name) {
      this.#world.call(this, out.to, out.message, callTimeoutMs, handlers)
      return
    }
    // To ourselves: no network, but still asynchronous (as the runtime's promise is).
    this.#world.queue.after(
      0,
      this.guard(() =>
        this.handleRequest(this.name, out.message, {
          reply: this.guard(handlers.onReply),
          fail: this.guard(handlers.onFailure),
        }),
      ),
    )
  }

  // ---- replica side ----

  /** One replication request from `from` (the runtime's `ReplicationDriver.handle`). */
  handleRequest(from: string, message: ReplicationMessage, respond: Responder): void {
    switch (message.type) {
      case 'put':
        this.#handlePut(from, message, respond)
        break
      case 'get':
        respond.reply(handleGet({ store: this.engine, from, message }).message)
        break
      case 'hint-deliver': {
        if (!this.#acceptVersion(message.record, respond)) break
        const step = handleHintDeliver({ store: this.engine, from, message })
        this.#persist(step.entries, () => respond.reply(step.thenSend[0]?.message))
        break
      }
      case 'aae-hashes-request':
      case 'aae-keys':
      case 'aae-push': {
        const incoming =
          message.type === 'aae-push'
            ? { ...message, records: this.#withoutSkewed(message.records) }
            : message
        const step = this.aae.onMessage(from, incoming, this.wallMs())
        const reply = step.send.find((out) => out.to === from)?.message
        this.#persistAll(step.persist, () => respond.reply(reply))
        break
      }
      default:
        // Rebalancing is not simulated (ownership is static after bootstrap; see docs).
        respond.reply(undefined)
    }
  }

  #handlePut(from: string, message: PutMessage, respond: Responder): void {
    if (!this.#acceptVersion(message.record, respond)) return
    const step = handlePut({ store: this.engine, hints: this.hints, from, message })
    const hint = step.hintPersist[0]
    if (hint !== undefined) {
      const reply = hint.thenSend.find((out) => out.to === from)?.message
      this.#persistHints(hint.writes, () => respond.reply(reply))
      return
    }
    const after = step.persist[0]
    if (after !== undefined) {
      this.#persist(after.entries, () => respond.reply(after.thenSend[0]?.message))
      return
    }
    respond.reply(step.send.find((out) => out.to === from)?.message)
  }

  #acceptVersion(record: StoredRecord, respond: Responder): boolean {
    if (this.#observe(record.version)) return true
    this.stats.skewRefusals++
    respond.fail('GOSSAMER_ERR_CLOCK_SKEW')
    return false
  }

  #withoutSkewed(records: readonly KeyedRecord[]): KeyedRecord[] {
    return records.filter(({ record }) => !this.#isSkewed(record))
  }

  // ---- timer ----

  #scheduleTick(): void {
    this.#world.queue.after(
      this.#world.options.tickMs,
      this.guard(() => {
        this.#tick()
        this.#scheduleTick()
      }),
    )
  }

  #tick(): void {
    const nowMs = this.wallMs()
    for (const pending of [...this.#writes.values()]) {
      const core = pending.core as WriteCoordinator
      this.#applyWrite(pending, core, core.tick(nowMs))
    }
    for (const pending of [...this.#reads.values()]) {
      const core = pending.core as ReadCoordinator
      this.#applyRead(pending, core, core.tick(nowMs))
    }
    for (const out of this.hints.tick(nowMs)) this.#sendHint(out)
    this.#runAntiEntropy(this.aae.tick(nowMs, this.isReachable).send)
  }

  #sendHint(out: Outgoing): void {
    if (out.message.type !== 'hint-deliver') return
    const deliveryId = out.message.deliveryId
    this.#send(out, {
      onReply: (reply) => {
        if (reply?.type !== 'hint-ack') return this.hints.onFailure(out.to, deliveryId)
        const step = this.hints.onAck(out.to, reply, this.wallMs())
        this.#persistHints(step.writes, () => {
          for (const next of step.send) this.#sendHint(next)
        })
      },
      onFailure: () => this.hints.onFailure(out.to, deliveryId),
    })
  }

  #runAntiEntropy(send: readonly Outgoing[]): void {
    for (const out of send) {
      this.#send(out, {
        onReply: (reply) => {
          if (reply === undefined) return
          const incoming =
            reply.type === 'aae-keys-reply'
              ? { ...reply, records: this.#withoutSkewed(reply.records) }
              : reply
          const step = this.aae.onMessage(out.to, incoming, this.wallMs())
          this.#persistAll(step.persist, () => {})
          this.#runAntiEntropy(step.send)
        },
        onFailure: () => this.aae.onFailure(out.to),
      })
    }
  }

  // ---- disk ----

  #persistAll(steps: ReadonlyArray<{ entries: readonly WriteEntry[] }>, then: () => void): void {
    const entries = steps.flatMap((step) => step.entries)
    this.#persist(entries, then)
  }

  #persist(entries: readonly WriteEntry[], then: () => void): void {
    if (entries.length === 0) then()
    else this.#commit(() => this.engine.writeBatchSync(entries), then)
  }

  #persistHints(writes: readonly HintWrite[], then: () => void): void {
    if (writes.length === 0) then()
    else this.#commit(() => this.hintStore.apply(writes), then)
  }

  /**
   * One write on the simulated disk, with group commit as lmdb-js batches asynchronous writes:
   * writes that arrive while a commit is in flight form the next batch, committed as one
   * transaction when the current one finishes. A commit takes an exponential latency scaled by
   * the slow-disk factor. `then` (the reply that needs durability) runs after its batch
   * committed, or at once under the `ackBeforePersist` bug switch. A crash drops both.
   */
  #commit(write: () => void, then: () => void): void {
    const ackBeforePersist = this.#world.options.ackBeforePersist
    this.#nextBatch.push({ write, afterCommit: ackBeforePersist ? () => {} : then })
    if (ackBeforePersist) then()
    if (!this.#isDiskBusy) this.#startBatch()
  }

  #startBatch(): void {
    const batch = this.#nextBatch
    this.#nextBatch = []
    this.#isDiskBusy = true
    this.#inFlightBatch = batch.length
    const meanMs = this.#world.options.diskLatencyMeanMs
    const latencyMs = (0.2 - Math.log(1 - this.#random.float()) * meanMs) * this.diskFactor
    this.#world.queue.after(
      latencyMs,
      this.guard(() => {
        this.#inFlightBatch = 0
        this.stats.commits++
        for (const item of batch) item.write()
        for (const item of batch) item.afterCommit()
        this.#isDiskBusy = false
        if (this.#nextBatch.length > 0) this.#startBatch()
      }),
    )
  }

  /** Requests this node coordinates now (client operations in flight here). */
  get inFlight(): number {
    return this.#writes.size + this.#reads.size
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i])
}
