// Test helpers: one core driven by hand with a manual clock and a seeded Random.
import { resolveConfig } from '../../src/core/config.ts'
import { MemberlistCore } from '../../src/core/memberlist-core.ts'
import type { CoreOutput, Delegates } from '../../src/core/ports.ts'
import { SeededRandom } from '../../src/sim/prng.ts'
import type { Alive } from '../../src/wire/messages.ts'

export const VSN = Uint8Array.of(1, 5, 2, 0, 0, 0)

export interface Harness {
  core: MemberlistCore
  clock: { nowMs: number }
  outputs: CoreOutput[]
  /** Advances the clock and ticks, collecting outputs. */
  advance(ms: number): void
  /** Names whose direct pings are answered with an ack during `advance`. */
  responsive: Set<string>
  /** Collects outputs produced since the last drain. */
  drain(): CoreOutput[]
}

export function harness(
  options: { name?: string; delegates?: Delegates; seed?: number } = {},
): Harness {
  const clock = { nowMs: 0 }
  const config = resolveConfig({ name: options.name ?? 'self' }, 'lan')
  const core = new MemberlistCore(
    {
      clock: { nowMs: () => clock.nowMs },
      random: new SeededRandom(options.seed ?? 1),
      delegates: options.delegates,
    },
    config,
  )
  const outputs: CoreOutput[] = []
  const h: Harness = {
    core,
    clock,
    outputs,
    responsive: new Set(),
    advance(ms) {
      const end = clock.nowMs + ms
      for (let i = 0; i < 100_000; i++) {
        const next = core.nextDeadlineMs()
        if (next === undefined || next > end) break
        clock.nowMs = Math.max(clock.nowMs, next)
        core.tick()
        const produced = core.takeOutputs()
        outputs.push(...produced)
        for (const out of produced) {
          if (out.kind !== 'packet') continue
          const ping = out.messages[0]
          if (ping?.type !== 'ping' || !h.responsive.has(ping.node)) continue
          core.handlePacket(out.to, [{ type: 'ackResp', seqNo: ping.seqNo }])
          outputs.push(...core.takeOutputs())
        }
      }
      clock.nowMs = end
    },
    drain() {
      outputs.push(...core.takeOutputs())
      return outputs.splice(0)
    },
  }
  return h
}

export function alive(
  node: string,
  incarnation: number,
  lastOctet: number,
  meta?: Uint8Array,
): Alive {
  return {
    type: 'alive',
    node,
    incarnation,
    addr: Uint8Array.of(10, 0, 0, lastOctet),
    port: 7946,
    meta,
    vsn: VSN,
  }
}

export const FROM = { ip: Uint8Array.of(10, 0, 0, 99), port: 7946 }
