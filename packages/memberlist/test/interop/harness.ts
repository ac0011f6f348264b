/**
 * Interop test harness: builds the Go memberlist peer (test/interop/go-peer) once per source
 * hash, starts peers as child processes and talks to them over the line protocol described in
 * docs/interop.md (flags in, one JSON command per stdin line, one JSON event per stdout line).
 *
 * The same {@link LinePeer} handle drives any process that speaks the protocol, so the TS peer
 * (test/interop/ts-peer.ts) plugs in beside the Go one for mixed clusters. Every child is
 * tracked in a {@link PeerRegistry} and killed by PID — never by name — in an after hook; a
 * process-exit hook kills any that are still alive if the test runner dies first. Children
 * also exit by themselves when their stdin closes.
 *
 * Where Go or Debian's memberlist sources are missing, {@link skipUnlessGo} prints a loud warning
 * and skips; with GOSSAMER_REQUIRE_GO=1 (set by .ci/run) it fails instead, so CI cannot silently skip.
 */

import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const goPeerDir = path.join(here, 'go-peer')
const goPeerSources = [path.join(goPeerDir, 'main.go')]
const overlaySource = path.join(goPeerDir, 'overlay', 'interop_export.go')

/** Where Debian's golang-github-hashicorp-memberlist-dev puts its GOPATH tree. */
export const GOCODE_ROOT = process.env['GOSSAMER_GOCODE'] ?? '/usr/share/gocode'
const GO_BIN = process.env['GOSSAMER_GO'] ?? 'go'
const memberlistDir = path.join(GOCODE_ROOT, 'src', 'github.com', 'hashicorp', 'memberlist')

// ---------------------------------------------------------------------------------------------
// Availability and skipping
// ---------------------------------------------------------------------------------------------

/** Result of probing for the Go toolchain and the memberlist sources. */
export type GoAvailability = { ok: true; goVersion: string } | { ok: false; reason: string }

let availability: Promise<GoAvailability> | undefined

function run(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { env: options.env, cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }))
        else resolve({ stdout, stderr })
      },
    )
  })
}

/** Detects `go` on PATH (or $GOSSAMER_GO) and the Debian memberlist 0.2.2 sources. Memoised. */
export function goAvailable(): Promise<GoAvailability> {
  availability ??= (async (): Promise<GoAvailability> => {
    if (!existsSync(path.join(memberlistDir, 'memberlist.go'))) {
      return {
        ok: false,
        reason: `memberlist sources not found at ${memberlistDir} (apt-get install golang-github-hashicorp-memberlist-dev)`,
      }
    }
    try {
      const { stdout } = await run(GO_BIN, ['version'], { timeoutMs: 15_000 })
      return { ok: true, goVersion: stdout.trim() }
    } catch (error) {
      return {
        ok: false,
        reason: `Go toolchain not runnable (${GO_BIN} version: ${(error as Error).message.split('\n')[0]}; apt-get install golang-go)`,
      }
    }
  })()
  return availability
}

let warnedSkip = false

/** The subset of node:test's TestContext that skipping needs. */
export interface Skippable {
  skip(message?: string): void
}

/**
 * Returns true when Go interop tests can run. Otherwise prints a LOUD warning to stderr and
 * skips the test — or, when GOSSAMER_REQUIRE_GO=1 (CI), throws so the test fails.
 */
export async function skipUnlessGo(t: Skippable): Promise<boolean> {
  const found = await goAvailable()
  if (found.ok) return true
  const message = `Go toolchain / memberlist sources not installed: ${found.reason}`
  if (
    process.env['GOSSAMER_REQUIRE_GO'] === '1' ||
    process.env['GOSSAMER_REQUIRE_INTEROP'] === '1'
  ) {
    throw new Error(`${message} — and GOSSAMER_REQUIRE_GO=1 demands the interop tests run`)
  }
  if (!warnedSkip) {
    warnedSkip = true
    process.stderr.write(
      `\n!!!!!!!! WARNING: Go memberlist INTEROP TESTS SKIPPED !!!!!!!!\n!!!!!!!! ${message}\n\n`,
    )
  }
  t.skip(message)
  return false
}

// ---------------------------------------------------------------------------------------------
// Building the Go peer
// ---------------------------------------------------------------------------------------------

let goPeerBinary: Promise<string> | undefined

async function sourceHash(goVersion: string): Promise<string> {
  const hash = createHash('sha256')
  hash.update(goVersion)
  hash.update(memberlistDir)
  for (const file of [...goPeerSources, overlaySource]) {
    hash.update(file)
    hash.update(await readFile(file))
  }
  // The installed library's version is part of what we build against.
  hash.update(await readFile(path.join(memberlistDir, 'memberlist.go')))
  hash.update(await readFile(path.join(memberlistDir, 'state.go')))
  return hash.digest('hex').slice(0, 16)
}

/**
 * Builds the Go peer (GOPATH mode, offline, cgo off) into os.tmpdir(), once per source hash;
 * later calls and later test runs reuse the binary. Returns the binary's path.
 */
export function buildGoPeer(): Promise<string> {
  goPeerBinary ??= (async () => {
    const found = await goAvailable()
    if (!found.ok) throw new Error(found.reason)
    const cacheRoot = path.join(os.tmpdir(), 'gossamer-interop')
    const binary = path.join(cacheRoot, `go-peer-${await sourceHash(found.goVersion)}`)
    if (existsSync(binary)) return binary
    await mkdir(cacheRoot, { recursive: true })
    const work = await mkdtemp(path.join(cacheRoot, 'build-'))
    try {
      const overlay = path.join(work, 'overlay.json')
      const target = path.join(memberlistDir, 'zz_interop_export.go')
      await writeFile(overlay, JSON.stringify({ Replace: { [target]: overlaySource } }))
      await mkdir(path.join(work, 'gopath'))
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: `${path.join(work, 'gopath')}${path.delimiter}${GOCODE_ROOT}`,
        GOPROXY: 'off',
        GOFLAGS: '',
        GOTOOLCHAIN: 'local',
        CGO_ENABLED: '0',
        GOCACHE: process.env['GOCACHE'] ?? path.join(cacheRoot, 'gocache'),
      }
      const out = path.join(work, 'go-peer')
      const args = ['build', '-overlay', overlay, '-o', out, ...goPeerSources]
      try {
        await run(GO_BIN, args, { env, cwd: goPeerDir, timeoutMs: 300_000 })
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? ''
        throw new Error(`go build of the interop peer failed:\n${stderr}`)
      }
      await rename(out, binary) // atomic: concurrent test files may race to build
      return binary
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  })()
  return goPeerBinary
}

// ---------------------------------------------------------------------------------------------
// Line-protocol peers
// ---------------------------------------------------------------------------------------------

/** One JSON line a peer printed, stamped with the harness's receipt time. */
export interface PeerEvent {
  /** Event kind: listening, join, leave, update, state, message, remoteState, reply, ... */
  readonly event: string
  /** performance.now() in the test process when the line arrived. */
  readonly receivedAtMs: number
  readonly [field: string]: unknown
}

/** Effective timing of a peer, as it reported in its `listening` line. */
export interface PeerTimingConfig {
  readonly probeIntervalMs: number
  readonly probeTimeoutMs: number
  readonly suspicionMult: number
  readonly suspicionMaxTimeoutMult: number
  readonly gossipIntervalMs: number
  readonly gossipToTheDeadTimeMs: number
  readonly pushPullIntervalMs: number
  readonly tcpTimeoutMs: number
  readonly [field: string]: unknown
}

/** How a peer finished. */
export interface PeerExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** Options for {@link LinePeer.waitFor}. */
export interface WaitOptions {
  /** Give up after this long; the rejection lists the recent events and stderr. */
  readonly timeoutMs: number
  /** Only events at or after this index in {@link LinePeer.events} match (see `mark()`). */
  readonly after?: number
  /** Shown in the timeout error. */
  readonly description?: string
}

const STDERR_LINES_KEPT = 200
const EVENTS_KEPT = 20_000

/** A child process speaking the interop line protocol. */
export class LinePeer {
  readonly name: string
  readonly pid: number
  /** Every event received so far, in order (bounded at 20,000). */
  readonly events: PeerEvent[] = []
  /** Resolves when the process has exited. */
  readonly exited: Promise<PeerExit>
  #child: ChildProcessWithoutNullStreams
  #stderr: string[] = []
  #waiters = new Set<() => void>()
  #nextId = 1
  #exit: PeerExit | undefined

  constructor(name: string, child: ChildProcessWithoutNullStreams) {
    if (child.pid === undefined) throw new Error(`peer ${name} did not start`)
    this.name = name
    this.pid = child.pid
    this.#child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal }
        this.#wake()
        resolve(this.#exit)
      })
    })
    createInterface({ input: child.stdout }).on('line', (line) => this.#onLine(line))
    createInterface({ input: child.stderr }).on('line', (line) => {
      this.#stderr.push(line)
      if (this.#stderr.length > STDERR_LINES_KEPT) this.#stderr.shift()
      if (process.env['GOSSAMER_INTEROP_VERBOSE'] === '1') {
        process.stderr.write(`[${name}] ${line}\n`)
      }
    })
    // A write to a dead child must not crash the test process.
    child.stdin.on('error', () => {})
  }

  #onLine(line: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      parsed = { event: 'unparsed', line }
    }
    const record =
      parsed !== null && typeof parsed === 'object' && 'event' in parsed
        ? (parsed as Record<string, unknown>)
        : { event: 'unparsed', line }
    this.events.push({ ...record, event: String(record['event']), receivedAtMs: performance.now() })
    if (this.events.length > EVENTS_KEPT) this.events.shift()
    this.#wake()
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  /** The exit status once the process has exited, else undefined. */
  get exitStatus(): PeerExit | undefined {
    return this.#exit
  }

  /** The index the next event will get; pass it as `after` to wait only for newer events. */
  mark(): number {
    return this.events.length
  }

  /** The last lines the peer wrote to stderr (memberlist's log for the Go peer). */
  stderrTail(lines = 40): string {
    return this.#stderr.slice(-lines).join('\n')
  }

  /** Resolves with the first event (from `after`, default all history) matching `predicate`. */
  waitFor(predicate: (event: PeerEvent) => boolean, options: WaitOptions): Promise<PeerEvent> {
    const start = options.after ?? 0
    return new Promise((resolve, reject) => {
      let scanned = start
      const check = (): void => {
        for (; scanned < this.events.length; scanned++) {
          const event = this.events[scanned]!
          if (predicate(event)) {
            finish()
            resolve(event)
            return
          }
        }
        if (this.#exit !== undefined) {
          finish()
          reject(this.#failure(`exited (${JSON.stringify(this.#exit)}) before`, options))
        }
      }
      const timer = setTimeout(() => {
        finish()
        reject(this.#failure(`timed out after ${options.timeoutMs} ms waiting for`, options))
      }, options.timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
      check()
    })
  }

  #failure(what: string, options: WaitOptions): Error {
    const recent = this.events
      .slice(-15)
      .map((e) => JSON.stringify(e))
      .join('\n  ')
    return new Error(
      `peer ${this.name} (pid ${this.pid}) ${what} ${options.description ?? 'a matching event'}\n` +
        `recent events:\n  ${recent}\nstderr tail:\n${this.stderrTail(20)}`,
    )
  }

  /** Yields every event from `after` (default: the start) onwards, as they arrive. */
  async *iterate(after = 0): AsyncGenerator<PeerEvent> {
    let index = after
    for (;;) {
      while (index < this.events.length) yield this.events[index++]!
      if (this.#exit !== undefined) return
      await new Promise<void>((resolve) => {
        const waiter = (): void => {
          this.#waiters.delete(waiter)
          resolve()
        }
        this.#waiters.add(waiter)
      })
    }
  }

  /** Writes one command line without waiting for its reply. */
  send(command: Record<string, unknown>): void {
    this.#child.stdin.write(`${JSON.stringify(command)}\n`)
  }

  /**
   * Sends a command with a fresh id and resolves with its `reply` event; rejects if the reply
   * says ok=false (with the peer's error text) or does not come within `timeoutMs`.
   */
  async request(command: Record<string, unknown>, timeoutMs = 10_000): Promise<PeerEvent> {
    const id = this.#nextId++
    const after = this.mark()
    this.send({ ...command, id })
    const reply = await this.waitFor((e) => e.event === 'reply' && e['id'] === id, {
      timeoutMs,
      after,
      description: `reply to ${JSON.stringify(command)}`,
    })
    if (reply['ok'] !== true) {
      throw new Error(`peer ${this.name}: ${String(command['cmd'])} failed: ${reply['error']}`)
    }
    return reply
  }

  /** Sends a signal to this peer's PID (SIGKILL by default). Safe after exit. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#exit !== undefined) return
    try {
      process.kill(this.pid, signal)
    } catch {
      // Already gone.
    }
  }

  /** Closes stdin (the peer shuts down), then SIGKILLs it if it has not exited in `graceMs`. */
  async stop(graceMs = 2_000): Promise<PeerExit> {
    if (this.#exit !== undefined) return this.#exit
    this.#child.stdin.end()
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs)
    const exit = await this.exited
    clearTimeout(timer)
    return exit
  }
}

/** Membership view of a peer's table row, from a `members` reply. */
export interface MemberRow {
  readonly name: string
  readonly addr: string
  readonly state: 'alive' | 'suspect' | 'dead' | 'left' | string
  readonly incarnation: number
  readonly meta: string
}

/** A peer that has printed its `listening` line. */
export class RunningPeer {
  /** The child process and its event log. */
  readonly line: LinePeer
  /** host:port it gossips on (UDP and TCP). */
  readonly addr: string
  readonly config: PeerTimingConfig

  constructor(line: LinePeer, addr: string, config: PeerTimingConfig) {
    this.line = line
    this.addr = addr
    this.config = config
  }

  get name(): string {
    return this.line.name
  }

  get pid(): number {
    return this.line.pid
  }

  /** See {@link LinePeer.waitFor}. */
  waitFor(predicate: (event: PeerEvent) => boolean, options: WaitOptions): Promise<PeerEvent> {
    return this.line.waitFor(predicate, options)
  }

  /** See {@link LinePeer.request}. */
  request(command: Record<string, unknown>, timeoutMs?: number): Promise<PeerEvent> {
    return this.line.request(command, timeoutMs)
  }

  /** See {@link LinePeer.send}. */
  send(command: Record<string, unknown>): void {
    this.line.send(command)
  }

  /** See {@link LinePeer.kill}. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.line.kill(signal)
  }

  /** Every row of the peer's node table (dead and left included until reaped). */
  async members(): Promise<MemberRow[]> {
    const reply = await this.request({ cmd: 'members' })
    return reply['members'] as MemberRow[]
  }

  /** memberlist's own estimate of n (all table rows), used by its formulas. */
  async estNumNodes(): Promise<number> {
    const reply = await this.request({ cmd: 'members' })
    return Number(reply['estNumNodes'])
  }

  /**
   * Waits until this peer reports node `node` in `state` via a `state` event (the peers poll
   * their table every 50 ms by default), considering only events from index `after`.
   */
  waitForState(
    node: string,
    state: string,
    options: { timeoutMs: number; after?: number },
  ): Promise<PeerEvent> {
    return this.waitFor((e) => e.event === 'state' && e['node'] === node && e['state'] === state, {
      ...options,
      description: `${node} to be ${state} in ${this.name}'s view`,
    })
  }
}

/** Kills every registered child by PID; use one per test file with an `afterEach` hook. */
export class PeerRegistry {
  #peers = new Set<LinePeer>()

  constructor() {
    process.once('exit', () => {
      for (const peer of this.#peers) peer.kill('SIGKILL')
    })
  }

  /** Tracks `peer` for {@link killAll}. */
  add(peer: LinePeer): void {
    this.#peers.add(peer)
    void peer.exited.then(() => this.#peers.delete(peer))
  }

  /** SIGKILLs every live registered peer by PID and waits until each has exited. */
  async killAll(): Promise<void> {
    const peers = [...this.#peers]
    for (const peer of peers) peer.kill('SIGKILL')
    await Promise.all(peers.map((peer) => peer.exited))
    this.#peers.clear()
  }
}

/** Options shared by the Go and TS peers (they map onto the same flags). */
export interface PeerOptions {
  readonly name: string
  readonly join?: readonly string[]
  /** AES key (16, 24 or 32 bytes); enables encryption. */
  readonly key?: Uint8Array
  readonly preset?: 'local' | 'lan' | 'wan'
  readonly meta?: string
  readonly port?: number
  readonly noCompression?: boolean
  /** Node-table polling period for `state` events. Default 50 ms. */
  readonly watchMs?: number
  /** How long to wait for the `listening` line. Default 15 s. */
  readonly startTimeoutMs?: number
}

/** Builds the line-protocol flags for `options`. */
export function peerArgs(options: PeerOptions): string[] {
  const args = ['--name', options.name, '--bind', '127.0.0.1', '--port', String(options.port ?? 0)]
  args.push('--preset', options.preset ?? 'local')
  if (options.join !== undefined && options.join.length > 0) {
    args.push('--join', options.join.join(','))
  }
  if (options.key !== undefined) args.push('--key', Buffer.from(options.key).toString('base64'))
  if (options.meta !== undefined) args.push('--meta', options.meta)
  if (options.noCompression === true) args.push('--no-compression')
  if (options.watchMs !== undefined) args.push('--watch-ms', String(options.watchMs))
  return args
}

/**
 * Spawns `command args`, registers it, and waits for its `listening` line. Any command that
 * speaks the line protocol works (the Go peer, the TS peer).
 */
export async function startLinePeer(
  registry: PeerRegistry,
  spec: { name: string; command: string; args: string[]; cwd?: string; startTimeoutMs?: number },
): Promise<RunningPeer> {
  const child = spawn(spec.command, spec.args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
  })
  const peer = new LinePeer(spec.name, child)
  registry.add(peer)
  const listening = await peer.waitFor((e) => e.event === 'listening' || e.event === 'fatal', {
    timeoutMs: spec.startTimeoutMs ?? 15_000,
    description: 'the listening line',
  })
  if (listening.event === 'fatal') {
    peer.kill('SIGKILL')
    throw new Error(`peer ${spec.name} failed to start: ${String(listening['error'])}`)
  }
  return new RunningPeer(peer, String(listening['addr']), listening['config'] as PeerTimingConfig)
}

/** Builds (if needed) and starts one Go memberlist peer. */
export async function startGoPeer(
  registry: PeerRegistry,
  options: PeerOptions,
): Promise<RunningPeer> {
  const binary = await buildGoPeer()
  return startLinePeer(registry, {
    name: options.name,
    command: binary,
    args: peerArgs(options),
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
  })
}

// ---------------------------------------------------------------------------------------------
// Cluster helpers and the detection bound
// ---------------------------------------------------------------------------------------------

/**
 * Waits until every peer in `viewers` reports each name in `names` as `state`.
 * Uses the peers' `state` events, so a transition that already happened counts.
 */
export async function waitForStates(
  viewers: readonly RunningPeer[],
  names: readonly string[],
  state: string,
  options: { timeoutMs: number; after?: ReadonlyMap<RunningPeer, number> },
): Promise<void> {
  const waits: Promise<PeerEvent>[] = []
  for (const viewer of viewers) {
    for (const name of names) {
      const after = options.after?.get(viewer)
      waits.push(
        viewer.waitForState(name, state, {
          timeoutMs: options.timeoutMs,
          ...(after === undefined ? {} : { after }),
        }),
      )
    }
  }
  await Promise.all(waits)
}

/** Marks the current event index of every peer (for `after` in {@link waitForStates}). */
export function markAll(peers: readonly RunningPeer[]): Map<RunningPeer, number> {
  return new Map(peers.map((p) => [p, p.line.mark()]))
}

/** Lifeguard's minimum suspicion timeout (memberlist `suspicionTimeout`), ms. */
export function suspicionMinMs(config: PeerTimingConfig, n: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(config.suspicionMult * nodeScale * config.probeIntervalMs)
}

/**
 * The Go node's own worst-case time from a crash to "dead" in a healthy cluster of `n` table
 * entries (the victim included), as docs/interop.md derives it:
 *
 *   detectionMs(n) = 2·(n−1)·ProbeInterval + suspicionMin(n)
 *
 * The first term bounds when every survivor has probed the victim once and suspected it
 * (round-robin probing visits each of the n−1 others once per round; a reshuffle between
 * rounds can put two visits up to 2(n−1)−1 intervals apart, and a failed probe takes one more
 * interval). Every survivor's suspect message is a confirmation for the others, so with
 * n−2 ≥ k = SuspicionMult−2 survivors the Lifeguard timer shrinks to its minimum; with fewer,
 * k = 0 and it is the minimum anyway.
 */
export function goDetectionMs(config: PeerTimingConfig, n: number): number {
  return 2 * (n - 1) * config.probeIntervalMs + suspicionMinMs(config, n)
}

/**
 * The test deadline: the Go node's detection time without relying on any confirmation
 * arriving, plus one probe interval — `2(n−1)·P + suspicionMax(n) + P`.
 *
 * `goDetectionMs` (the typical time, printed by the tests) assumes every survivor's suspect
 * message reaches every other survivor. It need not: a broadcast is sent only
 * RetransmitMult × ⌈log10(n+1)⌉ times (2 in Local), and gossip may spend those sends on the
 * victim itself, which is still a suspect and so still a gossip target. Then a survivor's
 * Lifeguard timer runs to suspicionMax. A CI run saw exactly this (go-b suspected ts-b at
 * 3.4 s and was still waiting at 10 s). That survivors do gossip their suspicions as
 * confirmations is pinned deterministically in test/core/probe.test.ts.
 */
export function goDetectionDeadlineMs(config: PeerTimingConfig, n: number): number {
  return (
    2 * (n - 1) * config.probeIntervalMs +
    config.suspicionMaxTimeoutMult * suspicionMinMs(config, n) +
    config.probeIntervalMs
  )
}

/** Decodes the base64 `data` field of a message/remoteState event. */
export function eventData(event: PeerEvent): Buffer {
  return Buffer.from(String(event['data'] ?? ''), 'base64')
}

/** Encodes bytes or text for a command's `data` field. */
export function b64(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64')
}

// ---------------------------------------------------------------------------------------------
// TypeScript peers
// ---------------------------------------------------------------------------------------------

const tsPeerScript = path.join(here, 'ts-peer.ts')
const repoRoot = path.resolve(here, '..', '..', '..', '..')

/** Starts one TS memberlist peer (test/interop/ts-peer.ts) in its own Node process. */
export function startTsPeer(registry: PeerRegistry, options: PeerOptions): Promise<RunningPeer> {
  return startLinePeer(registry, {
    name: options.name,
    command: process.execPath,
    args: ['--import', 'tsx', tsPeerScript, ...peerArgs(options)],
    cwd: repoRoot,
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
  })
}
