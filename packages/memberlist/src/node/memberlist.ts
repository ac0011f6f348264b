/**
 * The public `Memberlist`: a SWIM + Lifeguard cluster member on real sockets, API-compatible in
 * spirit with hashicorp/memberlist's `Memberlist` (reference §6.8 for the delegates). It
 * composes the sans-I/O core with the Node driver, turns the core's completion outputs into
 * promises and its membership events into typed EventEmitter events, and exposes the keyring,
 * the health score and the metrics counters.
 */

import { EventEmitter } from 'node:events'
import { networkInterfaces } from 'node:os'
import type { MemberlistConfig } from '../core/config.ts'
import { resolveConfig } from '../core/config.ts'
import { MemberlistCore } from '../core/memberlist-core.ts'
import type { MemberlistMetrics } from '../core/metrics.ts'
import type { Address, Delegates, NodeInfo } from '../core/ports.ts'
import type { Keyring } from '../wire/keyring.ts'
import { ipToBytes, nodeAddress, resolveTarget } from './addresses.ts'
import { NodeDriver } from './driver.ts'
import {
  type MemberlistOptions,
  packetOverheadBytes,
  type ResolvedOptions,
  resolveOptions,
} from './options.ts'
import { bindSockets } from './sockets.ts'
import { cryptoRandom, systemClock } from './system.ts'

/** A member as the public API shows it: the core's snapshot plus its address as text. */
export interface Member extends NodeInfo {
  /** `ip:port` (IPv6 in brackets). */
  readonly address: string
}

/** Typed events of {@link Memberlist}. */
export interface MemberlistEvents {
  /** A node joined (or came back). Includes ourselves, once, at creation. */
  join: [member: Member]
  /** A node was declared dead (`state: 'dead'`) or left gracefully (`state: 'left'`). */
  leave: [member: Member]
  /** A node's metadata or address changed. */
  update: [member: Member]
}

/** Stable error codes of the public API. */
export type MemberlistErrorCode =
  | 'MEMBERLIST_ERR_JOIN_FAILED'
  | 'MEMBERLIST_ERR_LEAVE_TIMEOUT'
  | 'MEMBERLIST_ERR_UPDATE_TIMEOUT'
  | 'MEMBERLIST_ERR_NO_SUCH_MEMBER'
  | 'MEMBERLIST_ERR_SHUT_DOWN'
  | 'MEMBERLIST_ERR_KEYRING'

/** An expected failure of a public call, with a stable code. */
export class MemberlistError extends Error {
  readonly code: MemberlistErrorCode
  /** Per-address errors for a failed join. */
  readonly details: readonly string[]
  constructor(code: MemberlistErrorCode, message: string, details: readonly string[] = []) {
    super(message)
    this.name = 'MemberlistError'
    this.code = code
    this.details = details
  }
}

function toMember(node: NodeInfo): Member {
  return { ...node, address: nodeAddress(node) }
}

interface Waiter {
  resolve(timedOut: boolean): void
}

function pickAdvertiseAddr(options: ResolvedOptions): string {
  if (options.advertiseAddr !== undefined) return options.advertiseAddr
  if (options.bindAddr !== '0.0.0.0' && options.bindAddr !== '::') return options.bindAddr
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address
    }
  }
  return '127.0.0.1'
}

/** A cluster member on real sockets. Create with {@link Memberlist.create}. */
export class Memberlist extends EventEmitter<MemberlistEvents> {
  readonly #options: ResolvedOptions
  readonly #driver: NodeDriver
  readonly #core: MemberlistCore
  readonly #joins = new Map<number, (successCount: number, errors: readonly string[]) => void>()
  readonly #leaveWaiters: Waiter[] = []
  readonly #updateWaiters: Waiter[] = []
  #shutdown = false

  private constructor(parts: {
    options: ResolvedOptions
    build: (self: Memberlist) => { core: MemberlistCore; driver: NodeDriver }
  }) {
    super()
    this.#options = parts.options
    const built = parts.build(this)
    this.#core = built.core
    this.#driver = built.driver
  }

  /**
   * Binds UDP and TCP, starts the protocol, and makes this node alive. The node is alone
   * until {@link join} is called. Events for ourselves (`join`) are emitted asynchronously
   * after this resolves, so listeners attached right away see them.
   */
  static async create(options: MemberlistOptions, delegates: Delegates = {}): Promise<Memberlist> {
    const resolved = resolveOptions(options)
    const sockets = await bindSockets(resolved.bindAddr, resolved.bindPort)
    const advertiseIp = ipToBytes(pickAdvertiseAddr(resolved))
    if (advertiseIp === undefined) {
      sockets.udp.close()
      sockets.tcp.close()
      throw new MemberlistError('MEMBERLIST_ERR_JOIN_FAILED', 'advertiseAddr is not an IP')
    }
    let config: Readonly<MemberlistConfig>
    try {
      const protocolVersion = resolved.timings.protocolVersion ?? 2
      config = resolveConfig(
        {
          ...resolved.timings,
          name: resolved.name,
          advertiseAddr: advertiseIp,
          advertisePort: resolved.advertisePort ?? sockets.port,
          packetOverheadBytes: packetOverheadBytes(resolved, protocolVersion),
        },
        resolved.preset,
      )
    } catch (error) {
      sockets.udp.close()
      sockets.tcp.close()
      throw error
    }
    const memberlist = new Memberlist({
      options: resolved,
      build: (self) => {
        // The overhead follows the keyring: keys may be installed after creation.
        const overheadBytes = () => packetOverheadBytes(resolved, config.protocolVersion)
        const core = new MemberlistCore(
          {
            clock: systemClock,
            random: cryptoRandom,
            delegates,
            packetOverheadBytes: overheadBytes,
          },
          config,
        )
        const driver = new NodeDriver({
          core,
          options: resolved,
          udp: sockets.udp,
          tcp: sockets.tcp,
          hooks: self.#hooks(),
        })
        return { core, driver }
      },
    })
    // The core's first outputs (our own join event) go out after the caller can listen.
    setImmediate(() => memberlist.#driver.pump())
    return memberlist
  }

  #hooks() {
    return {
      onEvent: (event: { type: 'join' | 'leave' | 'update'; node: NodeInfo }) => {
        this.emit(event.type, toMember(event.node))
      },
      onJoinComplete: (joinId: number, successCount: number, errors: readonly string[]) => {
        const done = this.#joins.get(joinId)
        this.#joins.delete(joinId)
        done?.(successCount, errors)
      },
      onLeaveComplete: (timedOut: boolean) => {
        for (const waiter of this.#leaveWaiters.splice(0)) waiter.resolve(timedOut)
      },
      onUpdateComplete: (timedOut: boolean) => {
        for (const waiter of this.#updateWaiters.splice(0)) waiter.resolve(timedOut)
      },
    }
  }

  #assertRunning(): void {
    if (this.#shutdown) {
      throw new MemberlistError('MEMBERLIST_ERR_SHUT_DOWN', 'memberlist has been shut down')
    }
  }

  /**
   * Joins a cluster by push/pull with each address (`host`, `host:port`, `[v6]:port`,
   * `name/host:port`; hostnames resolve to every address). Resolves with the number of nodes
   * contacted; rejects with MEMBERLIST_ERR_JOIN_FAILED only when none could be (as Go).
   */
  async join(targets: readonly string[]): Promise<number> {
    this.#assertRunning()
    const addresses: Address[] = []
    const errors: string[] = []
    for (const target of targets) {
      try {
        addresses.push(...(await resolveTarget(target, this.#options.bindPort || 7946)))
      } catch (error) {
        errors.push(`${target}: ${(error as Error).message}`)
      }
    }
    if (addresses.length === 0) {
      throw new MemberlistError('MEMBERLIST_ERR_JOIN_FAILED', 'no address to join', errors)
    }
    const { successCount, joinErrors } = await new Promise<{
      successCount: number
      joinErrors: readonly string[]
    }>((resolve) => {
      const joinId = this.#driver.run((core) => core.join(addresses))
      this.#joins.set(joinId, (successCount, joinErrors) => resolve({ successCount, joinErrors }))
    })
    if (successCount === 0) {
      const all = [...errors, ...joinErrors]
      throw new MemberlistError(
        'MEMBERLIST_ERR_JOIN_FAILED',
        `failed to join: ${all.join('; ')}`,
        all,
      )
    }
    return successCount
  }

  /**
   * Broadcasts a graceful leave and waits until it has been sent at least once (or
   * `timeoutMs` passes: MEMBERLIST_ERR_LEAVE_TIMEOUT). The node keeps running until
   * {@link shutdown}; peers mark it `left`.
   */
  async leave(timeoutMs: number): Promise<void> {
    this.#assertRunning()
    const timedOut = await new Promise<boolean>((resolve) => {
      this.#leaveWaiters.push({ resolve })
      this.#driver.run((core) => core.leave(timeoutMs))
    })
    if (timedOut) {
      throw new MemberlistError(
        'MEMBERLIST_ERR_LEAVE_TIMEOUT',
        'timeout waiting for leave broadcast',
      )
    }
  }

  /**
   * Re-reads metadata from the `nodeMeta` delegate and advertises it with a new incarnation,
   * waiting until the broadcast went out (or MEMBERLIST_ERR_UPDATE_TIMEOUT).
   */
  async updateNode(timeoutMs: number): Promise<void> {
    this.#assertRunning()
    const timedOut = await new Promise<boolean>((resolve) => {
      this.#updateWaiters.push({ resolve })
      this.#driver.run((core) => core.updateNode(timeoutMs))
    })
    if (timedOut) {
      throw new MemberlistError(
        'MEMBERLIST_ERR_UPDATE_TIMEOUT',
        'timeout waiting for update broadcast',
      )
    }
  }

  #target(to: string | NodeInfo): Address {
    if (typeof to !== 'string') return { ip: to.addr, port: to.port }
    const node = this.#core.members().find((m) => m.name === to)
    if (node === undefined) {
      throw new MemberlistError('MEMBERLIST_ERR_NO_SUCH_MEMBER', `no live member named ${to}`)
    }
    return { ip: node.addr, port: node.port }
  }

  /** Sends a user message over UDP to a member (by name or snapshot); no delivery guarantee. */
  sendBestEffort(to: string | NodeInfo, payload: Uint8Array): void {
    this.#assertRunning()
    const address = this.#target(to)
    this.#driver.run((core) => core.sendBestEffort(address, payload))
  }

  /** Sends a user message over TCP to a member (by name or snapshot). */
  sendReliable(to: string | NodeInfo, payload: Uint8Array): void {
    this.#assertRunning()
    const address = this.#target(to)
    this.#driver.run((core) => core.sendReliable(address, payload))
  }

  /** Stops the protocol and closes the sockets without leaving; peers will detect a failure. */
  async shutdown(): Promise<void> {
    if (this.#shutdown) return
    this.#shutdown = true
    this.#driver.run((core) => core.shutdown())
    for (const waiter of this.#leaveWaiters.splice(0)) waiter.resolve(true)
    for (const waiter of this.#updateWaiters.splice(0)) waiter.resolve(true)
    for (const done of this.#joins.values()) done(0, ['memberlist shut down'])
    this.#joins.clear()
    await this.#driver.close()
  }

  /** Alive and suspect members, ourselves included (memberlist's `Members()`). */
  members(): Member[] {
    return this.#core.members().map(toMember)
  }

  /** Every known node, dead and left ones included until they are reaped. */
  allNodes(): Member[] {
    return this.#core.allNodes().map(toMember)
  }

  /** Number of alive and suspect members. */
  numMembers(): number {
    return this.#core.numMembers()
  }

  /** Our own entry. */
  get localNode(): Member {
    return toMember(this.#core.localNode())
  }

  /** Lifeguard's local health score: 0 is healthy, higher means probes are slowed down. */
  healthScore(): number {
    return this.#core.healthScore()
  }

  /** Protocol and I/O counters (live object; read, do not write). */
  get metrics(): Readonly<MemberlistMetrics> {
    return this.#core.metrics
  }

  /** The effective core configuration (preset plus overrides). */
  get config(): Readonly<MemberlistConfig> {
    return this.#core.config
  }

  /**
   * The encryption keyring: `install`, `use`, `remove`, `list`. Changes apply to the next
   * packet; distributing keys across the cluster is the operator's job, as in memberlist.
   */
  get keyring(): Keyring {
    return this.#options.keyring
  }
}
