/**
 * Child processes of the comparison harness: every server (Gossamer agents, etcd members,
 * redis-server) is spawned here with its output in a log file under the run's temp dir, tracked
 * by PID, and stopped by PID (SIGTERM, then SIGKILL after a deadline). Nothing is ever stopped by
 * name, so servers that other people run on this machine are never touched.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { openSync } from 'node:fs'

/** A server process the harness started. */
export interface Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  readonly logFile: string
}

/** Every process started and not yet stopped, so that `stopAll` can clean up after a failure. */
const running = new Set<Proc>()

/** Spawns `command args` with stdout and stderr appended to `logFile`. */
export function spawnLogged(
  name: string,
  command: string,
  args: readonly string[],
  logFile: string,
): Proc {
  const fd = openSync(logFile, 'a')
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] })
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`)
  const proc: Proc = { name, child, pid: child.pid, logFile }
  running.add(proc)
  child.once('exit', () => running.delete(proc))
  return proc
}

/** Tracks a process spawned elsewhere (e.g. by `startServer` in ../lib.ts) for `stopAll`. */
export function track(name: string, child: ChildProcess, logFile = '(inherited)'): Proc {
  if (child.pid === undefined) throw new Error(`${name}: no pid`)
  const proc: Proc = { name, child, pid: child.pid, logFile }
  if (child.exitCode === null) running.add(proc)
  child.once('exit', () => running.delete(proc))
  return proc
}

/** Stops one process by PID: SIGTERM, then SIGKILL if it is still running after `graceMs`. */
export async function stop(proc: Proc, graceMs = 15_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
  const exited = new Promise((resolve) => proc.child.once('exit', resolve))
  process.kill(proc.pid, 'SIGTERM')
  const timer = setTimeout(() => {
    if (proc.child.exitCode === null) process.kill(proc.pid, 'SIGKILL')
  }, graceMs)
  await exited
  clearTimeout(timer)
  running.delete(proc)
}

/** Stops every process still running (in parallel, each by its PID). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((proc) => stop(proc).catch(() => {})))
}

/** Polls `probe` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 200 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms`)
}

/** Fetch with a timeout; resolves with the response or rejects. */
export async function fetchWithin(
  url: string,
  init: RequestInit = {},
  timeoutMs = 5_000,
): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
}

/** Runs a command to completion (bounded) and resolves with its exit code and output. */
export async function runCommand(
  command: string,
  args: readonly string[],
  { timeoutMs = 600_000, env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
  const timer = setTimeout(
    () => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'),
    timeoutMs,
  )
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  }).finally(() => clearTimeout(timer))
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }
}
