/**
 * The fault scheduler of the fault phase (TigerBeetle's VOPR "safety phase"): at random gaps it
 * picks a fault kind among the enabled ones and a target, applies it, and schedules its repair.
 * Targets are chosen when the fault fires (from the run's `faults` stream), so the schedule
 * depends on the cluster's state only through the seed. `healAll` ends the phase: every cut is
 * removed, the network is clean again, slow disks recover and crashed nodes restart. Clock
 * offsets stay: a skewed clock is a property of the machine, not of the network.
 *
 * Membership events are scheduled the same way: `join` boots a node outside the cluster (a
 * spare, or one that left) against the members that are up, so partitions move to it; `leave`
 * makes a member leave gracefully (hand-off, removal, stop), unless that would leave fewer than
 * `minMembers`. Both are operator actions, not failures: `healAll` does not undo them, and a
 * leave in progress finishes during the heal phase. Faults target members only.
 */
import type { EventQueue } from './event-queue.ts'
import type { SeededRandom } from './memberlist-parts.ts'
import { CLEAN_LINK, type LinkQuality, type SimNetwork } from './network.ts'
import type { FaultKind, SimOptions } from './options.ts'
import type { SimNode } from './sim-node.ts'

/** What the scheduler acts on. */
export interface FaultTarget {
  readonly options: SimOptions
  readonly queue: EventQueue
  readonly network: SimNetwork
  readonly nodes: readonly SimNode[]
  log(line: string): void
  restart(node: SimNode): void
  /** Boots `node` (not a member) and joins it to the members that are up. */
  join(node: SimNode): void
  /** Starts a graceful leave of `node` (a ready member). */
  leave(node: SimNode): void
}

/** Injects faults until `healAll`. */
export class FaultScheduler {
  /** Faults injected, by kind. */
  readonly counts = new Map<FaultKind, number>()
  readonly #t: FaultTarget
  readonly #random: SeededRandom
  readonly #base: LinkQuality
  #isActive = false
  #nextCutId = 1
  #lossyUntilMs = 0

  constructor(target: FaultTarget, random: SeededRandom) {
    this.#t = target
    this.#random = random
    const o = target.options
    this.#base = {
      lossRate: o.lossRate,
      duplicateRate: o.duplicateRate,
      delayMinMs: o.delayMinMs,
      delayMeanExtraMs: o.delayMeanExtraMs,
    }
  }

  /** Starts the fault phase: base network quality and the first fault. */
  start(): void {
    this.#isActive = true
    this.#t.network.quality = this.#base
    this.#scheduleNext()
  }

  /** Ends the fault phase; see the module header. */
  healAll(): void {
    this.#isActive = false
    const t = this.#t
    t.network.healAll()
    t.network.quality = CLEAN_LINK
    for (const node of t.nodes) {
      node.diskFactor = 1
      if (node.isMember && !node.isUp) t.restart(node)
    }
    t.log('heal: network clean, cuts removed, every node up')
  }

  #scheduleNext(): void {
    const kinds = this.#t.options.faults
    if (kinds.length === 0) return
    const gapMs = this.#exp(this.#t.options.faultGapMeanMs)
    this.#t.queue.after(gapMs, () => {
      if (!this.#isActive) return
      const kind = kinds[this.#random.intBelow(kinds.length)]!
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
      this.#inject(kind)
      this.#scheduleNext()
    })
  }

  #inject(kind: FaultKind): void {
    switch (kind) {
      case 'isolate':
        this.#isolate()
        break
      case 'split':
        this.#split()
        break
      case 'asymmetric':
        this.#asymmetric()
        break
      case 'crash':
        this.#crash(false)
        break
      case 'power-loss':
        this.#crash(true)
        break
      case 'clock-jump':
        this.#clockJump()
        break
      case 'slow-disk':
        this.#slowDisk()
        break
      case 'lossy':
        this.#lossy()
        break
      case 'join':
        this.#join()
        break
      case 'leave':
        this.#leave()
        break
    }
  }

  #members(): SimNode[] {
    return this.#t.nodes.filter((n) => n.isMember)
  }

  #names(): string[] {
    return this.#members().map((n) => n.name)
  }

  #pickNode(): SimNode {
    const nodes = this.#members()
    return nodes[this.#random.intBelow(nodes.length)]!
  }

  #join(): void {
    const t = this.#t
    const outside = t.nodes.filter((n) => !n.isMember && !n.isUp)
    if (outside.length === 0 || !t.nodes.some((n) => n.isMember && n.isReady)) {
      t.log('fault join skipped: no node outside the cluster, or no member up')
      return
    }
    const node = outside[this.#random.intBelow(outside.length)]!
    t.log(`fault join ${node.name}`)
    t.join(node)
  }

  #leave(): void {
    const t = this.#t
    const members = this.#members()
    const staying = members.filter((n) => !n.isLeaving)
    const candidates = staying.filter((n) => n.isReady)
    if (staying.length - 1 < t.options.minMembers || candidates.length === 0) {
      t.log('fault leave skipped: too few members, or none ready')
      return
    }
    const node = candidates[this.#random.intBelow(candidates.length)]!
    t.log(`fault leave ${node.name}`)
    t.leave(node)
  }

  #cutFor(description: string, from: string[], to: string[], both: boolean): void {
    const id = this.#nextCutId++
    const durationMs = 500 + this.#exp(2_500)
    this.#t.network.cut(id, from, to, both)
    this.#t.log(`fault ${description} for ${durationMs.toFixed(0)} ms`)
    this.#t.queue.after(durationMs, () => {
      if (!this.#isActive) return
      this.#t.network.uncut(id)
      this.#t.log(`repair ${description}`)
    })
  }

  #isolate(): void {
    const node = this.#pickNode().name
    const rest = this.#names().filter((n) => n !== node)
    this.#cutFor(`isolate ${node}`, [node], rest, true)
  }

  #split(): void {
    const names = this.#names()
    this.#random.shuffle(names)
    const minority = names.slice(0, Math.floor((names.length - 1) / 2) || 1)
    const majority = names.filter((n) => !minority.includes(n))
    this.#cutFor(`split ${minority.join(',')} | ${majority.join(',')}`, minority, majority, true)
  }

  #asymmetric(): void {
    const node = this.#pickNode().name
    const rest = this.#names().filter((n) => n !== node)
    if (this.#random.chance(0.5)) this.#cutFor(`asymmetric ${node} deaf`, rest, [node], false)
    else this.#cutFor(`asymmetric ${node} mute`, [node], rest, false)
  }

  #crash(all: boolean): void {
    const t = this.#t
    const victims = all ? t.nodes.filter((n) => n.isUp) : [this.#pickNode()].filter((n) => n.isUp)
    if (victims.length === 0) return
    const downMs = t.options.downtimeMinMs + this.#exp(2_000)
    for (const node of victims) node.crash()
    t.log(
      `fault ${all ? 'power-loss' : 'crash'} ${victims.map((n) => n.name).join(',')} for ${downMs.toFixed(0)} ms`,
    )
    t.queue.after(downMs, () => {
      for (const node of victims) {
        if (this.#isActive && node.isMember && !node.isUp) t.restart(node)
      }
    })
  }

  #clockJump(): void {
    const max = this.#t.options.clockJumpMaxMs
    if (max <= 0) return
    const node = this.#pickNode()
    const jumpMs = Math.round((this.#random.float() * 2 - 1) * max)
    // Bounded drift: a node's offset stays within ± (initial skew + one jump).
    const limit = this.#t.options.clockSkewMaxMs + max
    node.clockOffsetMs = Math.max(-limit, Math.min(limit, node.clockOffsetMs + jumpMs))
    this.#t.log(`fault clock-jump ${node.name} ${jumpMs} ms (offset ${node.clockOffsetMs} ms)`)
  }

  #slowDisk(): void {
    const node = this.#pickNode()
    const durationMs = 500 + this.#exp(2_000)
    node.diskFactor = this.#t.options.slowDiskFactor
    this.#t.log(`fault slow-disk ${node.name} for ${durationMs.toFixed(0)} ms`)
    this.#t.queue.after(durationMs, () => {
      node.diskFactor = 1
    })
  }

  #lossy(): void {
    const durationMs = 500 + this.#exp(1_500)
    const t = this.#t
    t.network.quality = { lossRate: 0.2, duplicateRate: 0.05, delayMinMs: 1, delayMeanExtraMs: 30 }
    this.#lossyUntilMs = Math.max(this.#lossyUntilMs, t.queue.nowMs + durationMs)
    t.log(`fault lossy network for ${durationMs.toFixed(0)} ms`)
    t.queue.after(durationMs, () => {
      if (this.#isActive && t.queue.nowMs >= this.#lossyUntilMs) t.network.quality = this.#base
    })
  }

  #exp(meanMs: number): number {
    return -Math.log(1 - this.#random.float()) * meanMs
  }
}
