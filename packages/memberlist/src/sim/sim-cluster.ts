/**
 * A deterministic discrete-event simulator for many memberlist cores in one process (house
 * style B8). Virtual time, one seeded PRNG forked per subsystem, and a simulated network with
 * per-link loss, one-way delay (a minimum plus an exponential part, so packets reorder),
 * partitions, and crash/restart of nodes. Packets are UDP-like (lossy); streams are TCP-like
 * (reliable, but blocked by partitions and dead hosts, and bounded by their deadline). There
 * are no sleeps and no real timers: `runFor(ms)` jumps from event to event. The same seed
 * yields the identical event log.
 */

import { type MemberlistConfig, type PresetName, resolveConfig } from '../core/config.ts'
import { MemberlistCore } from '../core/memberlist-core.ts'
import {
  type Address,
  addressKey,
  type CoreOutput,
  type Delegates,
  type NodeStateName,
  type StreamResult,
} from '../core/ports.ts'
import { type TimerHandle, TimerQueue } from '../core/timers.ts'
import type { PacketMessage, StreamMessage } from '../wire/messages.ts'
import { SeededRandom } from './prng.ts'

/** Network behaviour of a link. */
export interface LinkOptions {
  /** Probability a packet is dropped. */
  readonly lossRate: number
  /** Minimum one-way delay. */
  readonly delayMinMs: number
  /** Mean of the exponential extra delay. */
  readonly delayMeanExtraMs: number
}

/** Optional codec round-trip so simulated traffic goes through real encode/decode. */
export interface SimCodec {
  packet(messages: readonly PacketMessage[]): PacketMessage[]
  stream(message: StreamMessage): StreamMessage
}

/** Simulator options. */
export interface SimClusterOptions {
  readonly seed: string | number
  readonly preset?: PresetName
  readonly config?: Partial<Omit<MemberlistConfig, 'name' | 'advertiseAddr' | 'advertisePort'>>
  readonly network?: Partial<LinkOptions>
  readonly delegates?: (name: string) => Delegates
  readonly codec?: SimCodec
  /** Record every membership event in `log` (default true). */
  readonly isLogging?: boolean
}

/** One simulated process. */
export interface SimNode {
  readonly name: string
  readonly address: Address
  core: MemberlistCore
  isUp: boolean
  /** Bumped on restart: in-flight callbacks for an older process are dropped. */
  epoch: number
  tickHandle: TimerHandle | undefined
}

const DEFAULT_LINK: LinkOptions = { lossRate: 0, delayMinMs: 1, delayMeanExtraMs: 2 }
/** Guard on events processed by one run call. */
const EVENTS_MAX_PER_RUN = 50_000_000

/** The simulated cluster. */
export class SimCluster {
  readonly random: SeededRandom
  readonly log: string[] = []
  readonly #options: SimClusterOptions
  readonly #events = new TimerQueue()
  readonly #netRandom: SeededRandom
  readonly #nodes = new Map<string, SimNode>()
  readonly #byAddress = new Map<string, SimNode>()
  readonly #linkOverrides = new Map<string, Partial<LinkOptions>>()
  #link: LinkOptions
  #groupOf = new Map<string, number>()
  #nowMs = 0

  constructor(options: SimClusterOptions) {
    this.#options = options
    this.random = new SeededRandom(options.seed)
    this.#netRandom = this.random.fork('network')
    this.#link = { ...DEFAULT_LINK, ...options.network }
  }

  /** Current virtual time. */
  get nowMs(): number {
    return this.#nowMs
  }

  /** All nodes, in creation order. */
  nodes(): SimNode[] {
    return [...this.#nodes.values()]
  }

  /** A node by name (throws if unknown: a test bug). */
  node(name: string): SimNode {
    const node = this.#nodes.get(name)
    if (node === undefined) throw new Error(`unknown sim node ${name}`)
    return node
  }

  /** Adds and starts a node at 10.x.y.z:7946. */
  addNode(name: string): SimNode {
    const index = this.#nodes.size + 1
    const ip = Uint8Array.of(10, (index >> 16) & 255, (index >> 8) & 255, index & 255)
    const address: Address = { ip, port: 7946 }
    const node: SimNode = {
      name,
      address,
      core: undefined as unknown as MemberlistCore,
      isUp: true,
      epoch: 0,
      tickHandle: undefined,
    }
    this.#nodes.set(name, node)
    this.#byAddress.set(addressKey(address), node)
    this.#boot(node)
    return node
  }

  #boot(node: SimNode): void {
    const config = resolveConfig(
      { ...this.#options.config, name: node.name, advertiseAddr: node.address.ip },
      this.#options.preset ?? 'sim',
    )
    const random = this.random.fork(`node:${node.name}:${node.epoch}`)
    const clock = { nowMs: () => this.#nowMs }
    const delegates = this.#options.delegates?.(node.name)
    node.core = new MemberlistCore({ clock, random, delegates }, config)
    this.#afterCall(node)
  }

  /** Asks `name` to join via the given nodes' addresses. */
  join(name: string, seedNames: readonly string[]): void {
    const node = this.node(name)
    node.core.join(seedNames.map((s) => this.node(s).address))
    this.#afterCall(node)
  }

  /** Graceful leave. */
  leave(name: string, timeoutMs = 5_000): void {
    const node = this.node(name)
    node.core.leave(timeoutMs)
    this.#afterCall(node)
  }

  /**
   * Runs `call` against a live node's core as if input had arrived from outside the simulated
   * network (a test feeding hostile messages, say), then drains the node's outputs and re-arms
   * its tick like any other input. Returns undefined for a crashed node.
   */
  inject<T>(name: string, call: (core: MemberlistCore) => T): T | undefined {
    const node = this.node(name)
    if (!node.isUp) return undefined
    const result = call(node.core)
    this.#afterCall(node)
    return result
  }

  /** Kills the process: no more packets in or out, timers stop. */
  crash(name: string): void {
    const node = this.node(name)
    node.isUp = false
    node.core.shutdown()
    node.tickHandle?.cancel()
    node.tickHandle = undefined
    this.#record(`${name} crash`)
  }

  /** Restarts a crashed node with fresh state (incarnation 1), same name and address. */
  restart(name: string): void {
    const node = this.node(name)
    node.epoch++
    node.isUp = true
    this.#record(`${name} restart`)
    this.#boot(node)
  }

  /** Splits the network: nodes in different groups cannot exchange anything. */
  partition(groups: readonly (readonly string[])[]): void {
    this.#groupOf = new Map()
    groups.forEach((group, index) => {
      for (const name of group) this.#groupOf.set(name, index)
    })
    this.#record(`partition ${groups.map((g) => g.length).join('/')}`)
  }

  /** Removes any partition. */
  heal(): void {
    this.#groupOf = new Map()
    this.#record('heal')
  }

  /** Sets default link behaviour. */
  setNetwork(link: Partial<LinkOptions>): void {
    this.#link = { ...this.#link, ...link }
  }

  /** Overrides one direction of one link. */
  setLink(fromName: string, toName: string, link: Partial<LinkOptions>): void {
    this.#linkOverrides.set(`${fromName}>${toName}`, link)
  }

  /** Runs the simulation for `durationMs` of virtual time. */
  runFor(durationMs: number): void {
    this.runUntil(() => false, durationMs)
  }

  /** Runs until `done()` holds (checked after each time step) or `maxMs` passes. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const endMs = this.#nowMs + maxMs
    for (let step = 0; step < EVENTS_MAX_PER_RUN; step++) {
      const next = this.#events.nextDeadlineMs()
      if (next === undefined || next > endMs) break
      this.#nowMs = Math.max(this.#nowMs, next)
      this.#events.fireDue(this.#nowMs)
      if (done()) return true
    }
    this.#nowMs = Math.max(this.#nowMs, endMs)
    return done()
  }

  /** What `observer` believes about `subject` (undefined: unknown or reaped). */
  view(observer: string, subject: string): NodeStateName | undefined {
    return this.node(observer).core.node(subject)?.state
  }

  #isBlocked(from: string, to: string): boolean {
    const a = this.#groupOf.get(from)
    const b = this.#groupOf.get(to)
    return a !== undefined && b !== undefined && a !== b
  }

  #linkFor(from: string, to: string): LinkOptions {
    const override = this.#linkOverrides.get(`${from}>${to}`)
    return override === undefined ? this.#link : { ...this.#link, ...override }
  }

  #delayMs(link: LinkOptions): number {
    const extra = -Math.log(1 - this.#netRandom.float()) * link.delayMeanExtraMs
    return link.delayMinMs + extra
  }

  /** Drains a node's outputs and re-arms its tick. */
  #afterCall(node: SimNode): void {
    if (!node.isUp) return
    for (const output of node.core.takeOutputs()) this.#handleOutput(node, output)
    const deadline = node.core.nextDeadlineMs()
    const current = node.tickHandle
    if (current?.isActive && current.deadlineMs === deadline) return
    node.tickHandle?.cancel()
    node.tickHandle = undefined
    if (deadline === undefined) return
    const epoch = node.epoch
    node.tickHandle = this.#events.schedule(Math.max(deadline, this.#nowMs), () => {
      if (!node.isUp || node.epoch !== epoch) return
      node.tickHandle = undefined
      node.core.tick()
      this.#afterCall(node)
    })
  }

  #handleOutput(node: SimNode, output: CoreOutput): void {
    switch (output.kind) {
      case 'packet':
        this.#sendPacket(node, output.to, output.messages)
        break
      case 'stream':
        this.#sendStream(node, output)
        break
      case 'event':
        this.#record(`${node.name} ${output.event.type} ${output.event.node.name}`)
        break
      case 'joinComplete':
        this.#record(`${node.name} joined ok=${output.successCount}`)
        break
      case 'leaveComplete':
      case 'updateComplete':
        this.#record(`${node.name} ${output.kind} timedOut=${output.timedOut}`)
        break
    }
  }

  #record(line: string): void {
    if (this.#options.isLogging === false) return
    this.log.push(`${this.#nowMs.toFixed(3)} ${line}`)
  }

  #sendPacket(source: SimNode, to: Address, messages: readonly PacketMessage[]): void {
    const target = this.#byAddress.get(addressKey(to))
    if (target === undefined) return
    const link = this.#linkFor(source.name, target.name)
    if (this.#netRandom.chance(link.lossRate)) return
    if (this.#isBlocked(source.name, target.name)) return
    const payload = this.#options.codec?.packet(messages) ?? messages
    this.#events.schedule(this.#nowMs + this.#delayMs(link), () => {
      if (!target.isUp || this.#isBlocked(source.name, target.name)) return
      target.core.handlePacket(source.address, payload)
      this.#afterCall(target)
    })
  }

  #sendStream(source: SimNode, out: Extract<CoreOutput, { kind: 'stream' }>): void {
    const epoch = source.epoch
    const finish = (result: StreamResult): void => {
      if (!source.isUp || source.epoch !== epoch) return
      source.core.onStreamResult(out.requestId, result)
      this.#afterCall(source)
    }
    const timeOut = (): void => {
      this.#events.schedule(Math.max(out.deadlineMs, this.#nowMs), () =>
        finish({ ok: false, error: 'i/o timeout' }),
      )
    }
    const target = this.#byAddress.get(addressKey(out.to))
    if (target === undefined || !target.isUp || this.#isBlocked(source.name, target.name)) {
      timeOut()
      return
    }
    const request = this.#options.codec?.stream(out.message) ?? out.message
    const link = this.#linkFor(source.name, target.name)
    this.#events.schedule(this.#nowMs + this.#delayMs(link), () => {
      if (!target.isUp || this.#isBlocked(source.name, target.name)) return timeOut()
      if (this.#nowMs > out.deadlineMs) return finish({ ok: false, error: 'i/o timeout' })
      const reply = target.core.handleStream(source.address, request)
      this.#afterCall(target)
      if (!out.expectsReply) return finish({ ok: true })
      const back = this.#linkFor(target.name, source.name)
      this.#events.schedule(this.#nowMs + this.#delayMs(back), () => {
        if (this.#nowMs > out.deadlineMs) return finish({ ok: false, error: 'i/o timeout' })
        if (reply === undefined) return finish({ ok: false, error: 'EOF' })
        finish({ ok: true, reply: this.#options.codec?.stream(reply) ?? reply })
      })
    })
  }
}
