/**
 * `gossamer dev --nodes 3`: a local cluster in one command. Spawns N `gossamer agent` processes
 * on loopback (free ports, or consecutive ones from `--base-port`), joins them through the first
 * node's gossip address with the `local` gossip preset, waits until the first node lists all of
 * them alive, and prints one line per node with its addresses, then a line once every node
 * answers `/v1/ready` (joiners stream their partitions in first). Ctrl-C (SIGINT) or SIGTERM stops
 * every child by PID (SIGTERM, then SIGKILL after a deadline) and exits 0. A child that dies on
 * its own is reported and the others keep running (kill one with `kill -9` to watch a failure);
 * when none is left the command exits 1. Data goes to a fresh temp directory removed on exit,
 * unless `--data-dir` names one to keep.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.ts'

/** Flags of `gossamer dev`, as commander parsed them. */
export interface DevFlags {
  readonly nodes?: string
  readonly basePort?: string
  readonly dataDir?: string
  readonly replicas?: string
  readonly partitions?: string
  readonly logLevel?: string
}

/** One running child of `gossamer dev`. */
interface DevNode {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<void>
  http: string
  gossip: string
  rpc: string
}

const BIN = fileURLToPath(new URL('../../bin/gossamer.js', import.meta.url))
/** Largest cluster `gossamer dev` starts (each node is a Node.js process). */
const MAX_NODES = 32
/** How long one node may take to print its listening line. */
const START_DEADLINE_MS = 60_000
/** How long the cluster may take until the first node lists every node alive. */
const JOIN_DEADLINE_MS = 60_000
/** How long `gossamer dev` keeps polling for every node to be ready. */
const READY_DEADLINE_MS = 600_000
/** How long stopping may take before the remaining children are SIGKILLed. */
const STOP_DEADLINE_MS = 15_000

/**
 * Registers `gossamer dev` on the program. `setExitCode` receives the exit code once the
 * cluster has stopped.
 */
export function registerDevCommand(program: Command, setExitCode: (code: number) => void): Command {
  return program
    .command('dev')
    .description('run a local cluster of N agent processes on loopback (Ctrl-C stops them all)')
    .option('--nodes <n>', 'number of nodes (default 3)')
    .option(
      '--base-port <port>',
      'node i (0-based) gets HTTP port base+i, gossip base+100+i, RPC base+200+i (default: free ports)',
    )
    .option(
      '--data-dir <dir>',
      'keep node data in <dir>/<name> (default: a temp dir removed on exit)',
    )
    .option('--replicas <n|all>', 'replicas per partition, passed to every agent')
    .option('--partitions <n>', 'partition count, passed to every agent')
    .option('--log-level <level>', "the agents' log level (default warn)")
    .action(async (flags: DevFlags) => {
      setExitCode(await runDev(flags))
    })
}

/** Parses and checks the flags; throws CliExit(EXIT_USAGE) on a bad one. */
function parseFlags(flags: DevFlags): { nodes: number; basePort: number | undefined } {
  const nodes = Number(flags.nodes ?? 3)
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
    throw new CliExit(EXIT_USAGE, `--nodes must be an integer from 1 to ${MAX_NODES}`)
  }
  if (flags.basePort === undefined) return { nodes, basePort: undefined }
  const basePort = Number(flags.basePort)
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort + 200 + nodes > 65535) {
    throw new CliExit(EXIT_USAGE, '--base-port must leave room for base+200+nodes below 65536')
  }
  return { nodes, basePort }
}

/** Runs the dev cluster until a signal or until every node has exited. */
export async function runDev(flags: DevFlags): Promise<number> {
  const { nodes: count, basePort } = parseFlags(flags)
  const ownsRoot = flags.dataDir === undefined
  const root = flags.dataDir ?? (await mkdtemp(join(tmpdir(), 'gossamer-dev-')))
  const nodes: DevNode[] = []
  let stopping = false
  let finish: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => {
    finish = resolve
  })
  const onSignal = () => {
    stopping = true
    finish(EXIT_OK)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    for (let i = 0; i < count && !stopping; i++) {
      const ports =
        basePort === undefined ? undefined : [basePort + i, basePort + 100 + i, basePort + 200 + i]
      const node = await startDevNode({ i, root, ports, seed: nodes[0]?.gossip, flags })
      nodes.push(node)
      node.exited.then(() => {
        if (stopping) return
        const left = nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null)
        process.stderr.write(`gossamer dev: ${node.name} exited; ${left.length} still running\n`)
        if (left.length === 0) finish(EXIT_FAILURE)
      })
    }
    if (!stopping) {
      await waitJoined(nodes[0]!, count, () => stopping)
      for (const n of nodes) {
        process.stdout.write(`${n.name}  http=${n.http}  gossip=${n.gossip}  rpc=${n.rpc}\n`)
      }
      process.stdout.write(`cluster of ${count} joined; Ctrl-C stops it\n`)
      void waitReady(nodes, () => stopping).then((ready) => {
        if (ready) process.stdout.write(`all ${count} nodes ready (/v1/ready)\n`)
      })
    }
    return await finished
  } catch (error) {
    if (error instanceof CliExit) throw error
    throw new CliExit(EXIT_FAILURE, (error as Error).message)
  } finally {
    stopping = true
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    await stopAll(nodes)
    if (ownsRoot) await rm(root, { recursive: true, force: true })
  }
}

/** Spawns one agent and waits (bounded) for its listening line. */
async function startDevNode(options: {
  i: number
  root: string
  ports: number[] | undefined
  seed: string | undefined
  flags: DevFlags
}): Promise<DevNode> {
  const name = `dev-${options.i + 1}`
  const dataDir = join(options.root, name)
  await mkdir(dataDir, { recursive: true })
  const [http, gossip, rpc] = options.ports ?? [0, 0, 0]
  const args = [
    BIN,
    'agent',
    ...['--name', name, '--data-dir', dataDir, '--advertise', '127.0.0.1'],
    ...['--http-port', String(http), '--gossip-port', String(gossip), '--rpc-port', String(rpc)],
    ...['--gossip-preset', 'local', '--log-level', options.flags.logLevel ?? 'warn'],
    ...(options.flags.replicas === undefined ? [] : ['--replicas', options.flags.replicas]),
    ...(options.flags.partitions === undefined ? [] : ['--partitions', options.flags.partitions]),
    ...(options.seed === undefined ? [] : ['--join', options.seed]),
  ]
  // Same process group: Ctrl-C in a terminal reaches every agent at once, and the SIGTERM we
  // forward (also the only path for `kill <pid of gossamer dev>`) is then a harmless repeat.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  createInterface({ input: child.stderr! }).on('line', (line) => {
    process.stderr.write(`[${name}] ${line}\n`)
  })
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} printed no listening line in ${START_DEADLINE_MS} ms`))
    }, START_DEADLINE_MS)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited during start-up (${code ?? signal})`))
    })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = parseLine(line)
      if (event?.event !== 'listening') return
      clearTimeout(timer)
      resolve(event)
    })
  }).catch(async (error: unknown) => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
    throw error
  })
  return {
    name,
    child,
    exited,
    http: String(listening.http),
    gossip: String(listening.gossip),
    rpc: String(listening.rpc),
  }
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** Polls the first node's member list until `count` members are alive (bounded). */
async function waitJoined(first: DevNode, count: number, cancelled: () => boolean): Promise<void> {
  const until = Date.now() + JOIN_DEADLINE_MS
  while (Date.now() < until && !cancelled()) {
    try {
      const response = await fetch(`${first.http}/v1/cluster/members`, {
        signal: AbortSignal.timeout(5_000),
      })
      const body = (await response.json()) as { members?: { state?: string }[] }
      const alive = body.members?.filter((m) => m.state === 'alive').length ?? 0
      if (alive >= count) return
    } catch {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  if (!cancelled()) throw new Error(`the ${count} nodes did not join within ${JOIN_DEADLINE_MS} ms`)
}

/**
 * Polls every node's `/v1/ready` until all answer 200 (a joining node is ready once the
 * partitions it gained have streamed in). Bounded; resolves false on timeout or cancellation.
 */
async function waitReady(nodes: readonly DevNode[], cancelled: () => boolean): Promise<boolean> {
  const until = Date.now() + READY_DEADLINE_MS
  while (Date.now() < until && !cancelled()) {
    const answers = await Promise.all(
      nodes.map((n) =>
        fetch(`${n.http}/v1/ready`, { signal: AbortSignal.timeout(5_000) }).then(
          (response) => response.status === 200,
          () => false,
        ),
      ),
    )
    if (answers.every(Boolean)) return true
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  return false
}

/** SIGTERMs every running child by PID, SIGKILLs those still running after the deadline. */
async function stopAll(nodes: readonly DevNode[]): Promise<void> {
  const running = nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null)
  for (const n of running) signal(n.child, 'SIGTERM')
  const timer = setTimeout(() => {
    for (const n of running) signal(n.child, 'SIGKILL')
  }, STOP_DEADLINE_MS)
  await Promise.all(running.map((n) => n.exited))
  clearTimeout(timer)
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(child.pid, name)
  } catch {
    // already gone
  }
}
