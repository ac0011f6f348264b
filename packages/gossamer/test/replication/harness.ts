/**
 * A tiny in-process cluster for the replication cores: one MemoryEngine, hint store, hint
 * holder, anti-entropy service and rebalance core per node; a FIFO message queue with seeded
 * delays as the network; virtual time. Everything is deterministic from the seed. A message to a
 * node that is down, or that goes down while the message is in flight, is not delivered and its
 * sender is told of the failure (as a refused or reset TCP connection would), after the delay.
 *
 * This is a test driver: it applies `AfterPersist` outputs with `writeBatchSync` and sends the
 * follow-up messages only afterwards, as a real driver does after an awaited write.
 */
import { HybridLogicalClock } from '../../src/hlc/hlc.ts'
import { AntiEntropy, type AntiEntropyConfig } from '../../src/replication/anti-entropy.ts'
import type { Consistency } from '../../src/replication/consistency.ts'
import {
  ReadCoordinator,
  type ReadResult,
  WriteCoordinator,
  type WriteResult,
} from '../../src/replication/coordinator.ts'
import { HashTree, scanPartitionEntries } from '../../src/replication/hash-tree.ts'
import { HintedHandoff, MemoryHintStore } from '../../src/replication/hinted-handoff.ts'
import type { AfterPersist, Outgoing, ReplicationMessage } from '../../src/replication/messages.ts'
import {
  answerHandoffRequest,
  type HandoffPersist,
  Rebalance,
} from '../../src/replication/rebalance.ts'
import { handleGet, handleHintDeliver, handlePut } from '../../src/replication/replica.ts'
import { computePlacement, type Placement } from '../../src/ring/partitioner.ts'
import type { StoredRecord } from '../../src/storage/engine.ts'
import { MemoryEngine } from '../../src/storage/memory-engine.ts'

/** mulberry32: a small seeded PRNG (tests only). */
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

/** Applies one AfterPersist to an engine and returns the messages to send afterwards. */
export function applyPersist(engine: MemoryEngine, persist: AfterPersist): readonly Outgoing[] {
  if (persist.entries.length > 0) engine.writeBatchSync(persist.entries)
  return persist.thenSend
}

/** Every record of an engine, tombstones included, as a key → record map. */
export function dumpEngine(engine: MemoryEngine, nowMs = 0): Map<string, StoredRecord> {
  const out = new Map<string, StoredRecord>()
  let after: string | undefined
  for (let page = 0; page < 100_000; page++) {
    const result = engine.scan({ after, limit: 500, includeDead: true, nowMs })
    for (const { key, record } of result.entries) out.set(key, record)
    if (result.cursor === undefined) return out
    after = result.cursor
  }
  throw new Error('dumpEngine: too many pages')
}

type Coordinator =
  | { kind: 'write'; core: WriteCoordinator; result?: WriteResult }
  | { kind: 'read'; core: ReadCoordinator; result?: ReadResult }

/** One simulated node. */
export interface SimNode {
  readonly name: string
  engine: MemoryEngine
  readonly hintStore: MemoryHintStore
  readonly hints: HintedHandoff
  antiEntropy: AntiEntropy
  readonly rebalance: Rebalance
  readonly hlc: HybridLogicalClock
  readonly coordinators: Map<number, Coordinator>
}

interface InFlight {
  readonly atMs: number
  readonly seq: number
  readonly from: string
  readonly to: string
  readonly message: ReplicationMessage
  readonly failed: boolean
}

/** Options of a simulated cluster. */
export interface SimClusterOptions {
  readonly seed: number
  readonly nodeNames: readonly string[]
  readonly partitionCount: number
  readonly replicaCount: number
  readonly maxDelayMs?: number
  readonly antiEntropy?: Partial<AntiEntropyConfig>
  readonly countHintedAcks?: boolean
}

/** The simulated cluster. See the file header. */
export class SimCluster {
  nowMs = 1_700_000_000_000
  readonly nodes = new Map<string, SimNode>()
  readonly down = new Set<string>()
  placement: Placement
  readonly #options: SimClusterOptions
  readonly #random: () => number
  #queue: InFlight[] = []
  readonly #results = new Map<string, WriteResult | ReadResult>()
  #seq = 0
  #requestId = 1
  deliveredCount = 0

  constructor(options: SimClusterOptions) {
    this.#options = options
    this.#random = seededRandom(options.seed)
    this.placement = computePlacement(options.nodeNames, {
      partitionCount: options.partitionCount,
      replicaCount: options.replicaCount,
    })
    for (const name of options.nodeNames) this.nodes.set(name, this.#makeNode(name))
    this.#assignPartitions()
  }

  #makeNode(name: string): SimNode {
    const engine = new MemoryEngine()
    const node: SimNode = {
      name,
      engine,
      hintStore: new MemoryHintStore(),
      hints: new HintedHandoff({ deliveryTimeoutMs: 500 }),
      antiEntropy: this.#makeAntiEntropy(() => node.engine),
      rebalance: new Rebalance({ self: name, config: { batchLimit: 20, requestTimeoutMs: 500 } }),
      hlc: new HybridLogicalClock({ nodeId: name, wallClockMs: () => this.nowMs }),
      coordinators: new Map(),
    }
    for (const other of this.#options.nodeNames) node.hints.setReachable(other, true)
    return node
  }

  #makeAntiEntropy(engine: () => MemoryEngine): AntiEntropy {
    return new AntiEntropy({
      store: { getRecord: (key) => engine().getRecord(key) },
      buildTree: (partition, shape, nowMs) =>
        new HashTree(
          shape,
          scanPartitionEntries({
            store: engine(),
            partition,
            partitionOf: (key) => this.placement.partitionOf(key),
            nowMs,
            tombstoneGraceMs: this.#options.antiEntropy?.tombstoneGraceMs ?? 864_000_000,
          }),
        ),
      config: { intervalMs: 1_000, sessionTimeoutMs: 2_000, ...this.#options.antiEntropy },
    })
  }

  #assignPartitions(): void {
    for (const node of this.nodes.values()) {
      const partitions = []
      for (let p = 0; p < this.placement.partitionCount; p++) {
        const replicas = this.placement.preferenceList(p)
        if (!replicas.includes(node.name)) continue
        partitions.push({ partition: p, peers: replicas.filter((r) => r !== node.name) })
      }
      node.antiEntropy.setPartitions(partitions)
    }
  }

  isReachable = (name: string): boolean => !this.down.has(name)

  node(name: string): SimNode {
    const node = this.nodes.get(name)
    if (node === undefined) throw new Error(`no node ${name}`)
    return node
  }

  /** Takes a node down: it neither sends nor receives; peers learn it is unreachable. */
  crash(name: string): void {
    this.down.add(name)
    for (const node of this.nodes.values()) node.hints.setReachable(name, false)
  }

  /** Brings a node back (with its data, or wiped). */
  restart(name: string, options: { wipe?: boolean } = {}): void {
    this.down.delete(name)
    const node = this.node(name)
    if (options.wipe === true) {
      node.engine = new MemoryEngine()
      node.antiEntropy.scheduleAll(this.nowMs)
    }
    for (const other of this.nodes.values()) other.hints.setReachable(name, true)
  }

  #send(from: string, outgoing: readonly Outgoing[]): void {
    for (const { to, message } of outgoing) {
      const delayMs = 1 + Math.floor(this.#random() * (this.#options.maxDelayMs ?? 5))
      const failed = this.down.has(to)
      this.#queue.push({ atMs: this.nowMs + delayMs, seq: this.#seq++, from, to, message, failed })
    }
    this.#queue.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)
  }

  #persist(node: SimNode, persists: readonly HandoffPersist[]): void {
    for (const persist of persists) {
      this.#send(node.name, applyPersist(node.engine, persist))
      node.rebalance.onPersisted(persist.page)
    }
  }

  /** Starts a write at `coordinator`; run the network to see it complete. */
  startWrite(
    coordinator: string,
    key: string,
    value: Uint8Array | null,
    w: Consistency = 'quorum',
  ): number {
    const node = this.node(coordinator)
    const partition = this.placement.partitionOf(key)
    const requestId = this.#requestId++
    const core = new WriteCoordinator({
      requestId,
      key,
      value,
      w,
      replicas: this.placement.preferenceList(partition),
      fallbacks: this.placement.orderedOwners(partition).slice(this.placement.replicaCount),
      isReachable: this.isReachable,
      hlc: node.hlc,
      nowMs: this.nowMs,
      deadlineMs: this.nowMs + 1_000,
      countHintedAcks: this.#options.countHintedAcks,
    })
    const entry: Coordinator = { kind: 'write', core }
    node.coordinators.set(requestId, entry)
    const step = core.start()
    if (step.completed !== undefined) entry.result = step.completed
    this.#send(coordinator, step.send)
    return requestId
  }

  /** Starts a read at `coordinator`. */
  startRead(coordinator: string, key: string, r: Consistency = 'quorum'): number {
    const node = this.node(coordinator)
    const requestId = this.#requestId++
    const core = new ReadCoordinator({
      requestId,
      key,
      r,
      replicas: this.placement.preferenceList(this.placement.partitionOf(key)),
      isReachable: this.isReachable,
      nowMs: this.nowMs,
      deadlineMs: this.nowMs + 1_000,
      repairDeadlineMs: this.nowMs + 2_000,
    })
    const entry: Coordinator = { kind: 'read', core }
    node.coordinators.set(requestId, entry)
    const step = core.start()
    if (step.completed !== undefined) entry.result = step.completed
    this.#send(coordinator, step.send)
    return requestId
  }

  /** A write, run to completion. */
  write(coordinator: string, key: string, value: string | null, w: Consistency = 'quorum') {
    const bytes = value === null ? null : new TextEncoder().encode(value)
    const id = this.startWrite(coordinator, key, bytes, w)
    this.runUntil(() => this.#coordinator(coordinator, id).result !== undefined, 2_000)
    return this.#coordinator(coordinator, id).result as WriteResult
  }

  /** A read, run to completion. */
  read(coordinator: string, key: string, r: Consistency = 'quorum') {
    const id = this.startRead(coordinator, key, r)
    this.runUntil(() => this.#coordinator(coordinator, id).result !== undefined, 2_000)
    return this.#coordinator(coordinator, id).result as ReadResult
  }

  #coordinator(node: string, requestId: number): { result?: WriteResult | ReadResult } {
    const entry = this.node(node).coordinators.get(requestId)
    if (entry !== undefined) return entry
    const result = this.#results.get(`${node}/${requestId}`)
    if (result === undefined) throw new Error(`no request ${requestId} at ${node}`)
    return { result }
  }

  /** Advances virtual time by 1 ms steps, delivering due messages and ticking every node. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const endMs = this.nowMs + maxMs
    while (this.nowMs < endMs) {
      if (done()) return true
      this.step()
    }
    return done()
  }

  /** Runs for `durationMs` of virtual time. */
  runFor(durationMs: number): void {
    const endMs = this.nowMs + durationMs
    while (this.nowMs < endMs) this.step()
  }

  /** True when no message is in flight. */
  get isQuiet(): boolean {
    return this.#queue.length === 0
  }

  /** One millisecond: deliver what is due, then tick every live node. */
  step(): void {
    this.nowMs += 1
    // Bounded: each delivery removes one message; new ones are due at least 1 ms later.
    while (this.#queue.length > 0 && this.#queue[0]!.atMs <= this.nowMs) {
      const flight = this.#queue.shift()!
      // A node that crashed with the message in flight resets the connection: the sender
      // learns of the failure, as a real transport reports a broken call.
      if (flight.failed || this.down.has(flight.to)) this.#failure(flight)
      else this.#deliver(flight)
    }
    for (const node of this.nodes.values()) if (!this.down.has(node.name)) this.#tick(node)
  }

  #tick(node: SimNode): void {
    for (const [id, entry] of node.coordinators) {
      const step = entry.core.tick(this.nowMs)
      this.#send(node.name, step.send)
      if (step.completed !== undefined) entry.result = step.completed as never
      if (entry.core.isSettled && entry.result !== undefined) {
        this.#results.set(`${node.name}/${id}`, entry.result)
        node.coordinators.delete(id)
      }
    }
    this.#send(node.name, node.hints.tick(this.nowMs))
    const aae = node.antiEntropy.tick(this.nowMs, this.isReachable)
    this.#send(node.name, aae.send)
    const rebalance = node.rebalance.tick(this.nowMs, this.isReachable)
    this.#send(node.name, rebalance.send)
  }

  #failure(flight: InFlight): void {
    if (this.down.has(flight.from)) return
    const sender = this.node(flight.from)
    const message = flight.message
    if (message.type === 'put' || message.type === 'get') {
      const entry = sender.coordinators.get(message.requestId)
      if (entry === undefined) return
      const step = entry.core.onFailure(flight.to, this.nowMs)
      this.#send(sender.name, step.send)
      if (step.completed !== undefined) entry.result = step.completed as never
    } else if (message.type === 'hint-deliver') {
      sender.hints.onFailure(flight.to, message.deliveryId)
    } else if (message.type.startsWith('aae-')) {
      sender.antiEntropy.onFailure(flight.to)
    } else if (message.type === 'handoff-request') {
      sender.rebalance.onFailure(flight.to)
    }
  }

  #deliver(flight: InFlight): void {
    this.deliveredCount += 1
    const node = this.node(flight.to)
    const { from, message } = flight
    const store = { getRecord: (key: string) => node.engine.getRecord(key) }
    switch (message.type) {
      case 'put': {
        const partition = this.placement.partitionOf(message.key)
        const step = handlePut({
          store,
          hints: node.hints,
          from,
          message,
          partition: {
            self: node.name,
            replicas: this.placement.preferenceList(partition),
            handoff: node.rebalance.stateOf(partition),
            readQuorum: node.rebalance.readQuorumOf(partition),
            newReplica: node.rebalance.isNewReplicaOf(partition),
          },
        })
        this.#send(node.name, step.send)
        this.#persist(node, step.persist)
        for (const hintPersist of step.hintPersist) {
          node.hintStore.apply(hintPersist.writes)
          this.#send(node.name, hintPersist.thenSend)
        }
        return
      }
      case 'get':
        this.#send(node.name, [handleGet({ store, from, message })])
        return
      case 'put-reply':
      case 'get-reply': {
        const entry = node.coordinators.get(message.requestId)
        if (entry === undefined) return
        const step =
          entry.kind === 'write' && message.type === 'put-reply'
            ? entry.core.onReply(from, message, this.nowMs)
            : entry.kind === 'read' && message.type === 'get-reply'
              ? entry.core.onReply(from, message, this.nowMs)
              : { send: [] }
        this.#send(node.name, step.send)
        if (step.completed !== undefined) entry.result = step.completed as never
        return
      }
      case 'hint-deliver':
        this.#persist(node, [handleHintDeliver({ store, from, message })])
        return
      case 'hint-ack': {
        const step = node.hints.onAck(from, message, this.nowMs)
        node.hintStore.apply(step.writes)
        this.#send(node.name, step.send)
        return
      }
      case 'handoff-request': {
        const batch = answerHandoffRequest({
          store: node.engine,
          request: message,
          partitionOf: (key) => this.placement.partitionOf(key),
          nowMs: this.nowMs,
        })
        if (batch !== undefined) this.#send(node.name, [{ to: from, message: batch }])
        return
      }
      case 'handoff-batch':
        this.#persist(node, node.rebalance.onBatch(from, message, this.nowMs).persist)
        return
      case 'handoff-done':
        node.rebalance.onHandoffDone(from, message)
        return
      default: {
        const step = node.antiEntropy.onMessage(from, message, this.nowMs)
        this.#send(node.name, step.send)
        this.#persist(node, step.persist)
      }
    }
  }

  /** Keys this node replicates under the current placement, among `keys`. */
  replicatedBy(name: string, keys: Iterable<string>): string[] {
    return [...keys].filter((key) =>
      this.placement.preferenceList(this.placement.partitionOf(key)).includes(name),
    )
  }
}
