/**
 * Active anti-entropy (architecture §6; Dynamo, DeCandia et al. 2007, §4.7): replicas of a
 * partition compare hash trees (`hash-tree.ts`) on a schedule and exchange the records that
 * differ, repairing whatever read repair and hinted handoff missed — including a replica whose
 * data was wiped.
 *
 * One exchange (a session) between an initiator and a peer, both replicas of one partition:
 * 1. The initiator builds its tree and asks the peer for its hashes level by level
 *    (`aae-hashes-request` → `aae-hashes`), starting at the root and descending only into nodes
 *    whose hashes differ. Equal roots end the session at once.
 * 2. For the differing leaf buckets, a few at a time, the initiator sends its entries
 *    (key, version, tombstone) (`aae-keys`). The peer compares each with its stored record and
 *    answers with its records that are newer or that the initiator did not list, and the keys it
 *    wants (`aae-keys-reply`).
 * 3. The initiator persists the records that are newer than its own, and pushes back the
 *    wanted records plus its own record wherever the peer sent an older one (`aae-push`). The
 *    peer persists what is newer. Every write goes through last-writer-wins.
 * So one session moves records both ways and leaves both replicas with the newer version of
 * every differing key.
 *
 * Deletes are never undone: a tombstone is a record with a version and wins over every older
 * value. An expired record is treated the same way, as a delete at its expiry time. Tombstones
 * older than the purge horizon (`tombstoneGraceMs`) and records that expired before it are
 * left out of the trees (each replica purges them on its own schedule) and are never pushed to
 * a replica that lacks the key; they are still used when the peer offers an older live value,
 * which the initiator then answers with its tombstone. A value can therefore come back only
 * when some replica held it while every other replica had already purged the tombstone that
 * deleted it — which requires a replica to have missed the delete for longer than the grace
 * period. Hence the condition: the grace period must exceed the time anti-entropy needs to
 * visit every partition (plus the longest outage after which a node rejoins with its old data;
 * a node down longer must rejoin empty). docs/replication.md states this.
 *
 * Rate limit: a token bucket refilled by `tokensPerTick` on each tick; every message an
 * initiator sends costs 1 + its entries and records, and every reply it receives costs its
 * entries and records (the bucket may go negative, which delays the next message). Peers answer
 * requests without a budget of their own: the initiator's budget paces both sides.
 *
 * Scheduling: each partition this node replicates is exchanged every `intervalMs` with its
 * other replicas in turn, at most `maxConcurrentSessions` at a time.
 */
import { compareVersions } from '../hlc/version.ts'
import type { StoredRecord, WriteEntry } from '../storage/engine.ts'
import { type HashTree, isValidShape, levelWidth } from './hash-tree.ts'
import type {
  AaeHashesMessage,
  AaeHashesRequestMessage,
  AaeKeysMessage,
  AaeKeysReplyMessage,
  AaePushMessage,
  AfterPersist,
  KeyedRecord,
  KeyVersion,
  Outgoing,
  ReplicationMessage,
  TreeShape,
} from './messages.ts'

/** Reads anti-entropy needs: the raw stored record of a key. */
export interface RecordReader {
  getRecord(key: string): StoredRecord | undefined
}

/** What one input produced: messages to send now, records to persist (then send). */
export interface AaeStep {
  readonly send: readonly Outgoing[]
  readonly persist: readonly AfterPersist[]
}

const EMPTY: AaeStep = { send: [], persist: [] }

/** Settings of anti-entropy. Plain data. */
export interface AntiEntropyConfig {
  readonly shape: TreeShape
  /** Each partition is exchanged at most this often. @default 60_000 */
  readonly intervalMs: number
  /** Tokens added per tick (1 per message + 1 per entry or record). @default 2_000 */
  readonly tokensPerTick: number
  /** Largest token balance. @default 10_000 */
  readonly tokensMax: number
  /** A session with no answer for this long fails. @default 10_000 */
  readonly sessionTimeoutMs: number
  /** Sessions this node initiates at once. @default 1 */
  readonly maxConcurrentSessions: number
  /** Differing leaf buckets sent in one `aae-keys`. @default 16 */
  readonly bucketsPerMessage: number
  /** Tombstones older than this are purgeable and not pushed. @default 864_000_000 (10 days) */
  readonly tombstoneGraceMs: number
}

/** Defaults for {@link AntiEntropyConfig}. */
export const ANTI_ENTROPY_DEFAULTS: AntiEntropyConfig = {
  shape: { fanout: 16, depth: 2 },
  intervalMs: 60_000,
  tokensPerTick: 2_000,
  tokensMax: 10_000,
  sessionTimeoutMs: 10_000,
  maxConcurrentSessions: 1,
  bucketsPerMessage: 16,
  tombstoneGraceMs: 864_000_000,
}

/** How a session ended. */
export type SessionState = 'running' | 'in-sync' | 'repaired' | 'failed'

/** The initiator's side of one exchange. See the file header, steps 1–3. */
export class AntiEntropySession {
  readonly sessionId: number
  readonly partition: number
  readonly peer: string
  readonly #tree: HashTree
  readonly #store: RecordReader
  readonly #config: AntiEntropyConfig
  #state: SessionState = 'running'
  #deadlineMs: number
  #awaiting: 'hashes' | 'keys' | 'nothing' = 'nothing'
  #level = 0
  #differingBuckets: number[] = []
  /** Records pulled (persisted here) and pushed (sent to the peer). */
  pulledCount = 0
  pushedCount = 0

  constructor(input: {
    sessionId: number
    partition: number
    peer: string
    tree: HashTree
    store: RecordReader
    config: AntiEntropyConfig
    nowMs: number
  }) {
    this.sessionId = input.sessionId
    this.partition = input.partition
    this.peer = input.peer
    this.#tree = input.tree
    this.#store = input.store
    this.#config = input.config
    this.#deadlineMs = input.nowMs + input.config.sessionTimeoutMs
  }

  get state(): SessionState {
    return this.#state
  }

  /** The first message: the peer's root hash. */
  start(): Outgoing {
    return this.#requestHashes(0, [0])
  }

  /** True when this session's next message is a reply this message answers. */
  accepts(message: ReplicationMessage): boolean {
    if (this.#state !== 'running') return false
    if (message.type === 'aae-hashes') return this.#awaiting === 'hashes'
    if (message.type === 'aae-keys-reply') return this.#awaiting === 'keys'
    return false
  }

  /** Handles the peer's hashes; returns the next message (undefined when the session ended). */
  onHashes(message: AaeHashesMessage, nowMs: number): Outgoing | undefined {
    this.#deadlineMs = nowMs + this.#config.sessionTimeoutMs
    const width = levelWidth(this.#tree.shape, message.level)
    if (message.level !== this.#level || message.hashes.some((h) => !(h.index < width))) {
      this.#state = 'failed' // a confused peer: give up, the next round starts afresh
      return undefined
    }
    const differing = message.hashes
      .filter((h) => h.hash !== this.#tree.hash(message.level, h.index))
      .map((h) => h.index)
    if (differing.length === 0) {
      this.#state = message.level === 0 ? 'in-sync' : 'repaired'
      return undefined
    }
    if (message.level < this.#tree.shape.depth) {
      return this.#requestHashes(
        message.level + 1,
        differing.flatMap((index) => this.#tree.children(index)),
      )
    }
    this.#differingBuckets = differing
    return this.#nextKeys()
  }

  /** Handles the peer's records and wants: records to persist, then the push and next keys. */
  onKeysReply(message: AaeKeysReplyMessage, nowMs: number): AaeStep {
    this.#deadlineMs = nowMs + this.#config.sessionTimeoutMs
    const entries: WriteEntry[] = []
    const push = new Map<string, StoredRecord>()
    for (const { key, record } of message.records) {
      const local = this.#store.getRecord(key)
      if (local === undefined || compareVersions(local.version, record.version) < 0) {
        entries.push({ key, record })
      } else if (compareVersions(local.version, record.version) > 0) {
        push.set(key, local) // the peer sent an older record: correct it
      }
    }
    for (const key of message.wanted) {
      const local = this.#store.getRecord(key)
      if (local !== undefined) push.set(key, local)
    }
    this.pulledCount += entries.length
    this.pushedCount += push.size
    const send: Outgoing[] = []
    if (push.size > 0) send.push(this.#push([...push].map(([key, record]) => ({ key, record }))))
    const next = this.#nextKeys()
    if (next !== undefined) send.push(next)
    const persist = entries.length > 0 ? [{ entries, thenSend: [] }] : []
    return { send, persist }
  }

  /** Fails the session when the peer has been silent past the timeout. */
  tick(nowMs: number): void {
    if (this.#state === 'running' && nowMs >= this.#deadlineMs) this.#state = 'failed'
  }

  /** The transport could not reach the peer. */
  fail(): void {
    if (this.#state === 'running') this.#state = 'failed'
  }

  #requestHashes(level: number, indexes: number[]): Outgoing {
    this.#level = level
    this.#awaiting = 'hashes'
    const message: AaeHashesRequestMessage = {
      type: 'aae-hashes-request',
      sessionId: this.sessionId,
      partition: this.partition,
      shape: this.#tree.shape,
      level,
      indexes,
    }
    return { to: this.peer, message }
  }

  #nextKeys(): Outgoing | undefined {
    const buckets = this.#differingBuckets.splice(0, this.#config.bucketsPerMessage)
    if (buckets.length === 0) {
      this.#awaiting = 'nothing'
      this.#state = 'repaired'
      return undefined
    }
    this.#awaiting = 'keys'
    const message: AaeKeysMessage = {
      type: 'aae-keys',
      sessionId: this.sessionId,
      partition: this.partition,
      shape: this.#tree.shape,
      buckets,
      entries: this.#tree.entriesIn(buckets),
    }
    return { to: this.peer, message }
  }

  #push(records: KeyedRecord[]): Outgoing {
    const message: AaePushMessage = {
      type: 'aae-push',
      sessionId: this.sessionId,
      partition: this.partition,
      records,
    }
    return { to: this.peer, message }
  }
}

/** The peer's answer to `aae-hashes-request`; undefined for a malformed request (dropped). */
export function answerHashes(
  tree: HashTree,
  request: AaeHashesRequestMessage,
): AaeHashesMessage | undefined {
  if (!Number.isInteger(request.level) || request.level < 0 || request.level > tree.shape.depth) {
    return undefined
  }
  const width = levelWidth(tree.shape, request.level)
  if (request.indexes.length > width) return undefined
  if (request.indexes.some((index) => !Number.isInteger(index) || index < 0 || index >= width)) {
    return undefined
  }
  return {
    type: 'aae-hashes',
    sessionId: request.sessionId,
    partition: request.partition,
    level: request.level,
    hashes: request.indexes.map((index) => ({ index, hash: tree.hash(request.level, index) })),
  }
}

/**
 * The peer's answer to `aae-keys` (step 2): its records newer than the initiator's or missing
 * from the initiator's list (from the peer's tree, so dead-for-good records are not offered),
 * and the keys whose initiator version is newer or which the peer lacks.
 */
export function answerKeys(
  tree: HashTree,
  store: RecordReader,
  request: AaeKeysMessage,
): AaeKeysReplyMessage | undefined {
  const leafCount = levelWidth(tree.shape, tree.shape.depth)
  if (request.buckets.some((b) => !Number.isInteger(b) || b < 0 || b >= leafCount)) {
    return undefined
  }
  const records: KeyedRecord[] = []
  const wanted: string[] = []
  const listed = new Set<string>()
  for (const entry of request.entries) {
    listed.add(entry.key)
    const local = store.getRecord(entry.key)
    const order = local === undefined ? -1 : compareVersions(local.version, entry.version)
    if (order > 0) records.push({ key: entry.key, record: local! })
    else if (order < 0) wanted.push(entry.key)
  }
  for (const entry of tree.entriesIn(request.buckets)) {
    if (listed.has(entry.key)) continue
    const local = store.getRecord(entry.key)
    if (local !== undefined) records.push({ key: entry.key, record: local })
  }
  return {
    type: 'aae-keys-reply',
    sessionId: request.sessionId,
    partition: request.partition,
    records,
    wanted,
  }
}

/**
 * The peer's handling of `aae-push`: the records newer than its own, to persist. A pushed
 * record never replaces a newer one (the engine applies last-writer-wins again anyway).
 */
export function acceptPush(store: RecordReader, push: AaePushMessage): WriteEntry[] {
  return push.records
    .filter(({ key, record }) => {
      const local = store.getRecord(key)
      return local === undefined || compareVersions(local.version, record.version) < 0
    })
    .map(({ key, record }) => ({ key, record }))
}

/** Size of a message in tokens: 1 plus its entries and records. */
export function messageCost(message: ReplicationMessage): number {
  switch (message.type) {
    case 'aae-keys':
      return 1 + message.entries.length
    case 'aae-keys-reply':
      return message.records.length + message.wanted.length
    case 'aae-push':
      return 1 + message.records.length
    default:
      return 1
  }
}

/** Builds this node's tree of a partition at `nowMs` (a storage scan; see hash-tree.ts). */
export type TreeBuilder = (partition: number, shape: TreeShape, nowMs: number) => HashTree

/** A partition this node replicates, with its other replicas. */
export interface PartitionPeers {
  readonly partition: number
  readonly peers: readonly string[]
}

/**
 * The anti-entropy service of one node: schedules sessions, paces them with the token bucket,
 * answers peers. Feed it `tick`, incoming `aae-*` messages and transport failures; apply its
 * `AaeStep`s.
 */
export class AntiEntropy {
  readonly config: AntiEntropyConfig
  readonly #store: RecordReader
  readonly #buildTree: TreeBuilder
  #partitions: PartitionPeers[] = []
  readonly #dueAtMs = new Map<number, number>()
  readonly #peerTurn = new Map<number, number>()
  readonly #sessions = new Map<number, AntiEntropySession>()
  // Messages waiting for tokens, oldest first.
  readonly #waiting: Outgoing[] = []
  // Peers' trees, built once per (peer, session): a new session always sees fresh data.
  readonly #peerTrees = new Map<string, HashTree>()
  #tokens: number
  #nextSessionId = 1
  /** Sessions that ended, by outcome (metrics). */
  readonly finished = { inSync: 0, repaired: 0, failed: 0 }
  /** Records persisted locally and records pushed to peers by this node's sessions. */
  pulledCount = 0
  pushedCount = 0
  /** Malformed or unexpected aae messages dropped. */
  droppedCount = 0

  constructor(input: {
    store: RecordReader
    buildTree: TreeBuilder
    config?: Partial<AntiEntropyConfig> | undefined
  }) {
    this.config = { ...ANTI_ENTROPY_DEFAULTS, ...input.config }
    if (!isValidShape(this.config.shape)) throw new RangeError('invalid anti-entropy tree shape')
    this.#store = input.store
    this.#buildTree = input.buildTree
    this.#tokens = this.config.tokensMax
  }

  /** The partitions this node replicates now, with their other replicas (on ownership change). */
  setPartitions(partitions: readonly PartitionPeers[]): void {
    this.#partitions = [...partitions].sort((a, b) => a.partition - b.partition)
  }

  /** Makes every partition due now (e.g. after a restart on an empty store). */
  scheduleAll(nowMs: number): void {
    for (const { partition } of this.#partitions) this.#dueAtMs.set(partition, nowMs)
  }

  /** Sessions running now. */
  get runningCount(): number {
    return this.#sessions.size
  }

  /**
   * Messages waiting for tokens. A session counts as finished once its last reply is handled,
   * and its last push may still be waiting here (sent on a later tick, as tokens refill).
   */
  get waitingCount(): number {
    return this.#waiting.length
  }

  /** Time passes: refill tokens, expire sessions, start due ones, release paced messages. */
  tick(nowMs: number, isReachable: (node: string) => boolean): AaeStep {
    this.#tokens = Math.min(this.config.tokensMax, this.#tokens + this.config.tokensPerTick)
    for (const session of this.#sessions.values()) session.tick(nowMs)
    this.#reap()
    this.#startDue(nowMs, isReachable)
    return { send: this.#release(), persist: [] }
  }

  /** An `aae-*` message from `from`: answers requests, advances sessions. */
  onMessage(from: string, message: ReplicationMessage, nowMs: number): AaeStep {
    switch (message.type) {
      case 'aae-hashes-request':
        return this.#onHashesRequest(from, message, nowMs)
      case 'aae-keys':
        return this.#onKeys(from, message)
      case 'aae-push': {
        const entries = acceptPush(this.#store, message)
        return { send: [], persist: entries.length > 0 ? [{ entries, thenSend: [] }] : [] }
      }
      case 'aae-hashes':
      case 'aae-keys-reply':
        return this.#onSessionReply(from, message, nowMs)
      default:
        return EMPTY
    }
  }

  /** The transport could not reach `peer`: its sessions fail. */
  onFailure(peer: string): void {
    for (const session of this.#sessions.values()) if (session.peer === peer) session.fail()
    this.#reap()
  }

  #onHashesRequest(from: string, request: AaeHashesRequestMessage, nowMs: number): AaeStep {
    if (!isValidShape(request.shape)) return this.#drop()
    const treeKey = `${from}\u0000${request.sessionId}`
    let tree = this.#peerTrees.get(treeKey)
    if (tree === undefined || request.level === 0) {
      tree = this.#buildTree(request.partition, request.shape, nowMs)
      this.#peerTrees.delete(treeKey)
      this.#peerTrees.set(treeKey, tree)
      // Bounded: keep the trees of the most recent sessions only.
      while (this.#peerTrees.size > 2 * this.config.maxConcurrentSessions + 4) {
        this.#peerTrees.delete(this.#peerTrees.keys().next().value!)
      }
    }
    const answer = answerHashes(tree, request)
    return answer === undefined
      ? this.#drop()
      : { send: [{ to: from, message: answer }], persist: [] }
  }

  #onKeys(from: string, request: AaeKeysMessage): AaeStep {
    const tree = this.#peerTrees.get(`${from}\u0000${request.sessionId}`)
    if (tree === undefined || !isValidShape(request.shape)) return this.#drop()
    const answer = answerKeys(tree, this.#store, request)
    return answer === undefined
      ? this.#drop()
      : { send: [{ to: from, message: answer }], persist: [] }
  }

  #onSessionReply(
    from: string,
    message: AaeHashesMessage | AaeKeysReplyMessage,
    nowMs: number,
  ): AaeStep {
    const session = this.#sessions.get(message.sessionId)
    if (session === undefined || session.peer !== from || !session.accepts(message)) {
      return this.#drop()
    }
    this.#tokens -= messageCost(message)
    let step: AaeStep
    if (message.type === 'aae-hashes') {
      const next = session.onHashes(message, nowMs)
      step = { send: next === undefined ? [] : [next], persist: [] }
    } else {
      step = session.onKeysReply(message, nowMs)
    }
    this.#waiting.push(...step.send)
    this.#reap()
    return { send: this.#release(), persist: step.persist }
  }

  #startDue(nowMs: number, isReachable: (node: string) => boolean): void {
    if (this.#sessions.size >= this.config.maxConcurrentSessions) return
    // The most overdue partitions first: walking them in partition order would let the low
    // partitions, due again before a pass ends, starve the high ones whenever a full pass takes
    // longer than intervalMs.
    const due = this.#partitions
      .filter(({ partition, peers }) => {
        return peers.length > 0 && (this.#dueAtMs.get(partition) ?? nowMs) <= nowMs
      })
      .sort((x, y) => {
        const order = (this.#dueAtMs.get(x.partition) ?? 0) - (this.#dueAtMs.get(y.partition) ?? 0)
        return order !== 0 ? order : x.partition - y.partition
      })
    for (const { partition, peers } of due) {
      if (this.#sessions.size >= this.config.maxConcurrentSessions) return
      if ([...this.#sessions.values()].some((s) => s.partition === partition)) continue
      const turn = this.#peerTurn.get(partition) ?? 0
      const peer = peers[turn % peers.length]!
      this.#peerTurn.set(partition, turn + 1)
      this.#dueAtMs.set(partition, nowMs + this.config.intervalMs)
      if (!isReachable(peer)) continue
      const session = new AntiEntropySession({
        sessionId: this.#nextSessionId++,
        partition,
        peer,
        tree: this.#buildTree(partition, this.config.shape, nowMs),
        store: this.#store,
        config: this.config,
        nowMs,
      })
      this.#sessions.set(session.sessionId, session)
      this.#waiting.push(session.start())
    }
  }

  /** Sends waiting messages while the token balance is positive. */
  #release(): Outgoing[] {
    const send: Outgoing[] = []
    while (this.#waiting.length > 0 && this.#tokens > 0) {
      const next = this.#waiting.shift()!
      this.#tokens -= messageCost(next.message)
      send.push(next)
    }
    return send
  }

  #reap(): void {
    for (const [id, session] of this.#sessions) {
      if (session.state === 'running') continue
      this.#sessions.delete(id)
      this.pulledCount += session.pulledCount
      this.pushedCount += session.pushedCount
      if (session.state === 'in-sync') this.finished.inSync += 1
      else if (session.state === 'repaired') this.finished.repaired += 1
      else this.finished.failed += 1
    }
  }

  #drop(): AaeStep {
    this.droppedCount += 1
    return EMPTY
  }
}

export type { KeyVersion }
