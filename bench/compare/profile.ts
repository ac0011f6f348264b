/**
 * CPU profiles of Gossamer under the benchmark's load, and their top self-time functions.
 *
 *   npm run bench:profile                                  # single node, 5k keys, 5 s per phase
 *   PROFILE_SYSTEM=cluster npm run bench:profile           # 3 nodes N=3, quorum (profiles all three)
 *   PROFILE_SYSTEM=bare npm run bench:profile              # the bare Fastify + LMDB handler of bench:single
 *   PROFILE_KEYS=100000 PROFILE_DURATION_S=10 npm run bench:profile
 *
 * The keys are first written by an unprofiled run; then, for each phase (GET only, PUT only), the
 * node(s) are restarted on the same data under `node --cpu-prof`, loaded for the phase's duration
 * with the benchmark's 50 connections, and stopped (SIGTERM: the agent exits normally and V8
 * writes the profile). Each `.cpuprofile` is kept (open it in Chrome DevTools or speedscope for the
 * flame graph) and summarised: self time per function and per area (Gossamer source folder,
 * npm package, Node internals, GC). Output: bench/results/<date>-compare-profile.md.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, relative } from 'node:path'
import { loadRequests, machine, startServer } from '../lib.ts'
import { stop, stopAll, track } from './processes.ts'
import { type Deployment, startGossamerCluster, startGossamerSingle } from './systems.ts'
import { gossamerVariant, type Operation, requestsFor } from './workload.ts'

const system =
  process.env.PROFILE_SYSTEM === 'cluster' || process.env.PROFILE_SYSTEM === 'bare'
    ? process.env.PROFILE_SYSTEM
    : 'single'
const keyCount = Number(process.env.PROFILE_KEYS ?? 5_000)
const durationSec = Number(process.env.PROFILE_DURATION_S ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const topN = Number(process.env.PROFILE_TOP ?? 25)
const log = (line: string) => process.stderr.write(`[profile] ${line}\n`)

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  /** Monotonic clock, µs: V8 and process.hrtime both read CLOCK_MONOTONIC on Linux. */
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A span of the monotonic clock in µs (process.hrtime), to keep only the samples of a phase. */
interface Window {
  readonly fromUs: number
  readonly toUs: number
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n)

const root = process.cwd()

/** Where a frame's code lives: a Gossamer source folder, an npm package, Node, or V8 itself. */
function areaOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const path = url.replace(/^file:\/\//, '')
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  if (pkg !== null) return `npm:${pkg[1]}`
  if (path.startsWith('node:')) return 'node internals'
  const src = /packages\/([^/]+)\/src\/(?:([^/]+)\/)?/.exec(path)
  if (src !== null)
    return `${src[1]}/src/${src[2] !== undefined && !src[2].includes('.') ? src[2] : '(top)'}`
  return relative(root, path)
}

/** Self time in ms by function and by area, and the profile's total. */
export function summarizeProfile(profile: CpuProfile, windows: readonly Window[]) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (windows.length > 0 && !windows.some((w) => at >= w.fromUs && at <= w.toUs)) return
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  })
  const keyOf = (frame: ProfileNode['callFrame']) => {
    // Line numbers are left out: code compiled by tsx reports every function on line 1.
    const where = frame.url === '' ? '' : ` ${relative(root, frame.url.replace(/^file:\/\//, ''))}`
    return `${frame.functionName || '(anonymous)'}${where}`
  }
  const functions = new Map<string, number>()
  const areas = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let totalUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame
    functions.set(keyOf(frame), (functions.get(keyOf(frame)) ?? 0) + us)
    const area = areaOf(frame.url, frame.functionName)
    areas.set(area, (areas.get(area) ?? 0) + us)
    totalUs += us
    // Inclusive time of our own functions (packages/*/src): each counted once per stack.
    const seen = new Set<string>()
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const f = byId.get(n)!.callFrame
      if (!/packages\/[^/]+\/src\//.test(f.url)) continue
      const key = keyOf(f)
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + us)
    }
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()].sort((x, y) => y[1] - x[1]).slice(0, n)
  return {
    totalUs,
    functions: top(functions, topN),
    areas: top(areas, 20),
    inclusive: top(inclusive, topN),
  }
}

function table(
  title: string,
  rows: [string, number][],
  totalUs: number,
  column = 'self ms',
): string[] {
  return [
    `| ${title} | ${column} | % |`,
    '|---|---|---|',
    ...rows.map(
      ([k, us]) =>
        `| \`${k.replaceAll('|', '\\|')}\` | ${(us / 1000).toFixed(0)} | ${((100 * us) / totalUs).toFixed(1)} |`,
    ),
  ]
}

async function start(dir: string, nodeArgs: string[]): Promise<Deployment> {
  process.env.BENCH_NODE_ARGS = nodeArgs.join(' ')
  if (system === 'bare') return startBare(dir, nodeArgs)
  return system === 'cluster' ? startGossamerCluster(dir) : startGossamerSingle(dir)
}

// The floor of `bench:single` (bench/bare-server.ts), profiled the same way for comparison.
async function startBare(dir: string, nodeArgs: string[]): Promise<Deployment> {
  // startServer adds `--import tsx` in front of these.
  const server = await startServer('bare', [...nodeArgs, 'bench/bare-server.ts', join(dir, 'bare')])
  const proc = track('bare', server.child)
  return {
    urls: [server.http],
    pids: [server.child.pid!],
    commands: ['node --import tsx bench/bare-server.ts <dir>'],
    stop: () => stop(proc),
  }
}

const tmp = mkdtempSync(join(os.tmpdir(), 'gossamer-profile-'))
const report: string[] = []
const quorum = system === 'cluster' ? { w: 'quorum', r: 'quorum' } : {}
const variant = gossamerVariant({ setting: '', operations: [], ...quorum })

async function preload(d: Deployment): Promise<void> {
  const pre = await loadRequests({
    url: d.urls,
    connections,
    amount: keyCount + 2 * connections,
    request: (n) => variant.put(n % keyCount),
    serverPids: d.pids,
  })
  log(
    `preloaded ${keyCount} keys at ${pre.opsPerSec.toFixed(0)} ops/s (errors ${pre.errors + pre.non2xx})`,
  )
}

/** One timed load phase; resolves with its summary line and its span of the monotonic clock. */
async function phase(d: Deployment, op: Operation): Promise<{ line: string; window: Window }> {
  const fromUs = nowUs()
  const r = await loadRequests({
    url: d.urls,
    connections,
    durationSec,
    request: requestsFor(variant, op, keyCount),
    serverPids: d.pids,
  })
  const window = { fromUs, toUs: nowUs() }
  const line = `${op}: ${r.opsPerSec.toFixed(0)} ops/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, server CPU ${(r.serverCpuSec / durationSec).toFixed(2)} cores, errors ${r.errors + r.non2xx}`
  log(line)
  return { line, window }
}

/**
 * Appends the summary of the main-thread profiles in `profDir` (file names end in
 * `.<pid>.<thread>.<seq>.cpuprofile`; thread 0 is the main thread, the others are tsx's loader
 * worker) to the report, counting only samples inside `window`.
 */
function summarizeDir(profDir: string, window: Window, heading: string): void {
  const mains = readdirSync(profDir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
  for (const file of mains.sort()) {
    const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile
    const s = summarizeProfile(profile, [window])
    report.push(
      `### ${heading} — \`${join(profDir, file)}\``,
      '',
      `${(s.totalUs / 1e6).toFixed(1)} s of samples inside the load phase (start-up and preload excluded).`,
      '',
      ...table('area', s.areas, s.totalUs),
      '',
      ...table('function (self time)', s.functions, s.totalUs),
      '',
      ...table('Gossamer function (inclusive time)', s.inclusive, s.totalUs, 'total ms'),
      '',
    )
  }
}

try {
  const dataDir = join(tmp, 'data')
  mkdirSync(dataDir)
  if (system !== 'cluster') {
    const d = await start(dataDir, [])
    await preload(d)
    await d.stop()
    for (const op of ['GET', 'PUT'] as Operation[]) {
      const profDir = join(tmp, `cpuprofile-${op.toLowerCase()}`)
      const d = await start(dataDir, ['--cpu-prof', `--cpu-prof-dir=${profDir}`])
      const { line, window } = await phase(d, op)
      await d.stop()
      report.push(`## ${op} (single node) — ${line}`, '')
      summarizeDir(profDir, window, op)
    }
  } else {
    // A restarted cluster would come back on new ports and hand partitions around: profile one
    // cluster life (start-up, preload, GET phase, PUT phase), one profile per node, and summarise
    // each phase's window of it.
    const profDir = join(tmp, 'cpuprofile-cluster')
    const d = await start(dataDir, ['--cpu-prof', `--cpu-prof-dir=${profDir}`])
    await preload(d)
    const get = await phase(d, 'GET')
    const put = await phase(d, 'PUT')
    await d.stop()
    report.push(`## GET (cluster, r=quorum) — ${get.line}`, '')
    summarizeDir(profDir, get.window, 'GET')
    report.push(`## PUT (cluster, w=quorum) — ${put.line}`, '')
    summarizeDir(profDir, put.window, 'PUT')
  }
} finally {
  await stopAll()
}
const date = new Date().toISOString()
const text = [
  `# Gossamer CPU profile (${system}) — ${date}`,
  '',
  `Command: \`PROFILE_SYSTEM=${system} PROFILE_KEYS=${keyCount} PROFILE_DURATION_S=${durationSec} npm run bench:profile\``,
  `Machine: ${machine()}`,
  `${connections} connections, 100-byte values, ${keyCount} keys; load generator autocannon in the harness process. Profiles kept under ${tmp} (open a .cpuprofile in Chrome DevTools or speedscope for the flame graph).`,
  '',
  ...report,
].join('\n')
const file = join('bench', 'results', `${date.slice(0, 10)}-compare-profile-${system}.md`)
writeFileSync(file, text)
process.stdout.write(text)
log(`written ${file}`)
