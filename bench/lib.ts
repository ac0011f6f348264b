/**
 * Shared benchmark plumbing: start server processes and find their addresses, sample their CPU
 * time from /proc, run autocannon with per-request keys, summarise repeated runs.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'

export interface Server {
  readonly name: string
  readonly http: string
  readonly child: ChildProcess
  readonly info: Record<string, unknown>
}

/** Spawns `node --import tsx <args>` and resolves once it prints its `listening` JSON line. */
export async function startServer(
  name: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<Server> {
  const child = spawn(
    process.execPath,
    args[0]?.endsWith('.js') ? args : ['--import', 'tsx', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const lines = createInterface({ input: child.stdout! })
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name}: no listening line in ${timeoutMs}ms`)),
      timeoutMs,
    )
    child.once('exit', (code) => reject(new Error(`${name} exited early with code ${code}`)))
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as Record<string, unknown>
        if (event.event === 'listening') {
          clearTimeout(timer)
          resolve(event)
        }
      } catch {
        // not our line
      }
    })
  })
  return { name, http: String(info.http), child, info }
}

/**
 * Starts the server a same-run comparison names: `bare` (the bare Fastify + LMDB handler), or a
 * Gossamer source tree (`.`, or a worktree of another commit) as one single node on `dataDir`.
 */
export function startNamedServer(spec: string, dataDir: string): Promise<Server> {
  if (spec === 'bare') return startServer('bare', ['bench/bare-server.ts', dataDir])
  return startServer(`gossamer@${spec}`, [
    resolve(spec, 'packages/gossamer/bin/gossamer.js'),
    'agent',
    '--name',
    'bench',
    '--http-port',
    '0',
    '--data-dir',
    dataDir,
    '--log-level',
    'warn',
  ])
}

/** Stops a server by PID and waits (bounded) for it to exit. */
export async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.pid === undefined) return
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  process.kill(server.child.pid, 'SIGTERM')
  const timer = setTimeout(
    () => server.child.pid && process.kill(server.child.pid, 'SIGKILL'),
    10_000,
  )
  await exited
  clearTimeout(timer)
}

/** User + system CPU seconds used so far by a process (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return ticks / 100
}

export interface RunResult {
  readonly opsPerSec: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly errors: number
  readonly non2xx: number
  readonly serverCpuSec: number
}

export interface LoadOptions {
  readonly url: string
  readonly connections: number
  readonly durationSec?: number
  readonly amount?: number
  readonly method: 'GET' | 'PUT'
  /** Path for the n-th request. */
  readonly path: (n: number) => string
  readonly body?: Buffer
  readonly headers?: Record<string, string>
  readonly serverPids: number[]
}

export async function load(options: LoadOptions): Promise<RunResult> {
  return loadRequests({
    url: options.url,
    connections: options.connections,
    ...(options.amount !== undefined ? { amount: options.amount } : {}),
    ...(options.durationSec !== undefined ? { durationSec: options.durationSec } : {}),
    request: (n) => ({
      method: options.method,
      path: options.path(n),
      ...(options.body !== undefined ? { body: options.body } : {}),
      headers: options.headers ?? {},
    }),
    serverPids: options.serverPids,
  })
}

/** `/v1/kv/bench-000042`: the key path of the single-node benchmarks' n-th key. */
export function benchKeyPath(i: number): string {
  return `/v1/kv/bench-${String(i).padStart(6, '0')}`
}

/**
 * Durable PUTs of 100-byte values (`value`) on `/v1/kv/bench-*` against one server, the load of
 * the single-node benchmarks: keys in order with `sequential` (a preload), otherwise picked by
 * `keyIndex`.
 */
export function loadPuts(
  server: Server,
  options: {
    readonly connections: number
    readonly keyCount: number
    readonly value: Buffer
    readonly amount?: number
    readonly durationSec?: number
    readonly sequential?: boolean
  },
): Promise<RunResult> {
  const { keyCount, sequential } = options
  return load({
    url: server.http,
    connections: options.connections,
    method: 'PUT',
    body: options.value,
    ...(options.amount !== undefined ? { amount: options.amount } : {}),
    ...(options.durationSec !== undefined ? { durationSec: options.durationSec } : {}),
    headers: { 'content-type': 'application/octet-stream' },
    path: (n) => benchKeyPath(sequential === true ? n % keyCount : keyIndex(n, keyCount)),
    serverPids: [server.child.pid!],
  })
}

/** One HTTP request of a load run, built per request (method, path, body and headers may vary). */
export interface RequestSpec {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE'
  readonly path: string
  readonly body?: Buffer | string
  readonly headers?: Record<string, string>
}

export interface RequestLoadOptions {
  /** One target, or several: autocannon spreads the connections over them round-robin. */
  readonly url: string | readonly string[]
  readonly connections: number
  /** Timed run (default 10 s) unless `amount` is given. */
  readonly durationSec?: number
  /** Total number of requests instead of a duration. */
  readonly amount?: number
  /** The n-th request (n counts across all connections from 0). */
  readonly request: (n: number) => RequestSpec
  /** Processes whose CPU time the run reports (summed). */
  readonly serverPids: number[]
}

/**
 * Runs autocannon with a per-request method, path, body and headers — for targets that need a
 * different body per key (etcd's JSON gateway) or a mix of reads and writes in one run.
 */
export async function loadRequests(options: RequestLoadOptions): Promise<RunResult> {
  let n = 0
  const cpuBefore = options.serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const result = await autocannon({
    // autocannon accepts several URLs (connections go round-robin); its typings say one string.
    url: options.url as unknown as string,
    connections: options.connections,
    ...(options.amount !== undefined
      ? { amount: options.amount }
      : { duration: options.durationSec ?? 10 }),
    requests: [
      {
        setupRequest: (req: autocannon.Request) => {
          const spec = options.request(n++)
          return {
            ...req,
            method: spec.method,
            path: spec.path,
            // A GET after a PUT must not inherit the PUT's body: always set one.
            body: spec.body ?? Buffer.alloc(0),
            headers: spec.headers ?? {},
          }
        },
      },
    ],
  })
  const cpuAfter = options.serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  return {
    opsPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    p999Ms: result.latency.p99_9 ?? result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    serverCpuSec: cpuAfter - cpuBefore,
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot bind port 0). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Resident memory of a process from /proc/<pid>/status, in bytes: total, anonymous, file-backed. */
export function residentBytes(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
  return { rss: kib('VmRSS') * 1024, anon: kib('RssAnon') * 1024, file: kib('RssFile') * 1024 }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function machine(): string {
  const cpus = os.cpus()
  return `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`
}

/** Deterministic pseudo-random key index for the n-th request (no Math.random: runs repeat). */
export function keyIndex(n: number, keyCount: number): number {
  let x = (n + 1) * 0x9e3779b1
  x ^= x >>> 15
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  return (x >>> 0) % keyCount
}
