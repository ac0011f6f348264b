/**
 * Runs the deterministic whole-cluster simulator (docs/simulation.md).
 *
 *   node --import tsx scripts/sim.ts --seed <n|git-hash|commit> [--nodes 5] [--duration 60s]
 *   node --import tsx scripts/sim.ts --swarm --seed 42 --runs 100     # 100 seeds, knobs drawn from each
 *   node --import tsx scripts/sim.ts --seed 7 --log                   # print the event transcript
 *
 * `--reconnect 10s` sets the Serf-style reconnect interval (default 10s, as the runtime; `0s` turns it off).
 * `--seed commit` uses `git rev-parse HEAD`. `--runs N` runs N seeds (numeric seeds count up;
 * other seeds get `/1`, `/2`… appended). A failing run prints its violations and the exact command
 * that reproduces it; the exit code is 1 when any run failed.
 */
import { execFileSync } from 'node:child_process'
import { parseArgs } from 'node:util'
import {
  parseDurationMs,
  resolveSimOptions,
  runSimulation,
  type SimOptions,
  type SimResult,
  swarmOptions,
} from '../packages/gossamer/src/sim/index.ts'
import { formatViolations } from '../packages/gossamer/src/testing/history/checker.ts'

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    nodes: { type: 'string' },
    duration: { type: 'string' },
    swarm: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    log: { type: 'boolean', default: false },
    'inject-bug': { type: 'string' },
    reconnect: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})

if (values.help) {
  console.log(
    'usage: sim.ts --seed <n|git-hash|commit> [--nodes N] [--duration 60s] [--swarm] [--runs N] [--log] [--reconnect 10s] [--inject-bug ack-before-persist]',
  )
  process.exit(0)
}

function resolveSeed(text: string): string {
  if (text !== 'commit') return text
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'no-git'
  }
}

function seedAt(base: string, index: number): string {
  if (index === 0) return base
  return /^\d+$/.test(base) ? String(Number(base) + index) : `${base}/${index}`
}

const overrides: { -readonly [K in keyof SimOptions]?: SimOptions[K] } = {}
if (values.nodes !== undefined) overrides.nodeCount = Number(values.nodes)
if (values.duration !== undefined) overrides.durationMs = parseDurationMs(values.duration)
if (values.reconnect !== undefined)
  overrides.reconnectIntervalMs = parseDurationMs(values.reconnect)
if (values['inject-bug'] === 'ack-before-persist') overrides.ackBeforePersist = true
else if (values['inject-bug'] !== undefined) throw new Error(`unknown bug ${values['inject-bug']}`)

function reproduce(seed: string): string {
  const parts = ['npm run sim --', `--seed ${seed}`]
  if (values.swarm) parts.push('--swarm')
  if (values.nodes !== undefined) parts.push(`--nodes ${values.nodes}`)
  if (values.duration !== undefined) parts.push(`--duration ${values.duration}`)
  if (values.reconnect !== undefined) parts.push(`--reconnect ${values.reconnect}`)
  if (values['inject-bug'] !== undefined) parts.push(`--inject-bug ${values['inject-bug']}`)
  return parts.join(' ')
}

function summary(result: SimResult, wallMs: number): string {
  const o = result.options
  const h = result.history
  const faults = Object.entries(result.faults)
    .map(([kind, count]) => `${kind}×${count}`)
    .join(' ')
  return [
    `seed ${o.seed}: ${result.ok ? 'PASS' : 'FAIL'}`,
    `  nodes ${o.nodeCount}, N=${o.replicaCount}, partitions ${o.partitionCount}, faults phase ${o.durationMs} ms, clients ${o.clientCount}, keys ${o.keyCount}`,
    `  operations ${h.attempted}: ok ${h.acknowledged}, unknown ${h.unknown}, failed ${h.failed}; writes acknowledged ${h.writesAcknowledged}`,
    `  checked: strong reads ${result.checked.strongReads}, acknowledged strong writes ${result.checked.acknowledgedWrites}, final keys ${result.checked.finalKeys}`,
    `  faults: ${faults === '' ? 'none' : faults}`,
    `  converged ${result.convergeMs === undefined ? 'NO' : `${result.convergeMs} ms`} after healing (bound ${o.convergeBoundMs} ms)`,
    `  ${result.events} events, ${result.transport.calls} rpc calls, ${result.transport.packets} gossip packets, ${result.virtualMs.toFixed(0)} ms virtual in ${wallMs} ms`,
    `  transcript sha256 ${result.logHash}`,
  ].join('\n')
}

const base = resolveSeed(values.seed)
const runs = Math.max(1, Number(values.runs))
let failed = 0
for (let i = 0; i < runs; i++) {
  const seed = seedAt(base, i)
  const options = values.swarm
    ? swarmOptions(seed, overrides)
    : resolveSimOptions({ seed, ...overrides })
  const startedMs = Date.now()
  const result = runSimulation(options, { isLogging: true })
  if (values.log) console.log(result.log.join('\n'))
  console.log(summary(result, Date.now() - startedMs))
  if (result.ok) continue
  failed++
  if (result.violations.length > 0) console.log(formatViolations(result.violations))
  for (const failure of result.failures) console.log(`- [${failure.kind}] ${failure.message}`)
  console.log(`reproduce: ${reproduce(seed)}`)
}
if (runs > 1) console.log(`${runs - failed}/${runs} runs passed`)
process.exit(failed > 0 ? 1 : 0)
