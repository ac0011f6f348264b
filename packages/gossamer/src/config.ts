/**
 * Node configuration: plain, printable data with documented defaults. A node's config is built
 * from layers, later ones winning: defaults < `--config <file>` (JSON) < environment variables
 * `GOSSAMER_<FIELD>` (e.g. `GOSSAMER_HTTP_PORT`) < command-line flags (or `startNode` options).
 * Validation looks at every field and reports all problems in one `GOSSAMER_ERR_CONFIG_INVALID`.
 */
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { GossamerError } from './errors.ts'

/** Log levels understood by pino, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** `auto` is pretty when stderr is a terminal and JSON otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

export interface NodeConfig {
  /** Node name; also the node id inside versions. @default the host name (sanitised) */
  readonly name: string
  /** Address the HTTP server binds to. @default '127.0.0.1' */
  readonly bind: string
  /** HTTP port; 0 picks any free port (the actual one is reported on start). @default 8080 */
  readonly httpPort: number
  /** Directory of the LMDB store (created if missing). Ignored with `inMemory`. @default './gossamer-data' */
  readonly dataDir: string
  /** Keep data in memory only (lost on exit): for tests and experiments. @default false */
  readonly inMemory: boolean
  /** @default 'info' */
  readonly logLevel: LogLevel
  /** @default 'auto' */
  readonly logFormat: LogFormat
  /** Largest key, in bytes of UTF-8 (LMDB caps keys near 1.9 KB). @default 1024 */
  readonly maxKeyBytes: number
  /** Largest value, in bytes. @default 1048576 (1 MiB) */
  readonly maxValueBytes: number
  /** `sync`: fsync before acknowledging a write; `relaxed`: OS page cache. @default 'sync' */
  readonly durability: 'sync' | 'relaxed'
  /**
   * How long tombstones, and records whose TTL has passed, are kept before they are purged: they
   * shadow older versions on other replicas (anti-entropy) until then. @default 604800000 (7 days)
   */
  readonly tombstoneGraceMs: number
  /** How often the reaper purges old tombstones and expired records. @default 60000 */
  readonly reapIntervalMs: number
  /** A version further than this ahead of the wall clock is rejected. @default 60000 */
  readonly maxClockSkewMs: number
  /**
   * Gossip (memberlist) port, UDP and TCP; 0 picks a free one.
   * @default 7946, or 0 when `httpPort` is 0 and this is not set (tests, embedded use)
   */
  readonly gossipPort: number
  /** Node-to-node RPC port (TCP); 0 picks a free one. @default 7947, or 0 like `gossipPort` */
  readonly rpcPort: number
  /** Address other nodes reach this one at (gossip, RPC, HTTP in metadata). @default '' = `bind` */
  readonly advertise: string
  /** Nodes to join, `host:port,...`; retried with backoff until one answers. @default '' (none) */
  readonly join: string
  /** Memberlist timing preset: `lan`, `wan` or `local` (fast, for one machine). @default 'lan' */
  readonly gossipPreset: 'lan' | 'wan' | 'local'
  /** Base64 AES key (16, 24 or 32 bytes) encrypting gossip; every node needs the same. @default '' */
  readonly encrypt: string
  /** Replicas per key (N), or `all` (every owner holds every key). @default 3 */
  readonly replicas: number | 'all'
  /** Partitions of the key space; fixed when the cluster is created. @default 4096 */
  readonly partitions: number
  /** Deadline of one coordinated read or write (and of each RPC call). @default 5000 */
  readonly requestTimeoutMs: number
  /** A node dead for longer than this is removed from the ownership set. @default 3600000 (1 h) */
  readonly reclaimAfterMs: number
  /**
   * Every this often a node push/pulls with owners it does not see alive (Serf's reconnect), so
   * a cluster split by a partition finds itself again. 0 disables. @default 10000
   */
  readonly reconnectIntervalMs: number
  /** Each partition is compared with each other replica at most this often. @default 60000 */
  readonly antiEntropyIntervalMs: number
  /** Anti-entropy rate limit: records (and messages) per second this node initiates. @default 20000 */
  readonly antiEntropyRecordsPerSec: number
  /**
   * Rebalancing rate limit: records per second this node pulls while partitions stream to it
   * (a token bucket in the replication driver; a positive integer, no "unlimited"). The default
   * is above the ~10,000 records/s a move reaches on the development machine, so it does not
   * lengthen moves: at 1M keys a limit of 2,000 stretched the move from 196 s to 1,158 s and the
   * foreground suffered the whole time (docs/performance.md). Lower it to cap a bigger machine's
   * streaming. @default 20000
   */
  readonly handoffRecordsPerSec: number
  /** Period of the replication driver's timer (deadlines, hint delivery, pacing). @default 50 */
  readonly tickIntervalMs: number
  /** On shutdown, hand off this node's partitions and leave the ownership set. @default true */
  readonly leaveOnShutdown: boolean
  /** Longest wait for hand-offs during a graceful leave. @default 60000 */
  readonly leaveTimeoutMs: number
  /**
   * Serve plain `GET /v1/kv/{key}` reads that this node answers alone straight from the HTTP
   * server, before Fastify (same response bytes; `api/fast-path.ts`). @default true
   */
  readonly httpFastPath: boolean
  /** Testing only: shifts this node's wall clock by this many ms (to show skew handling). @default 0 */
  readonly clockOffsetMs: number
}

type FieldSpec =
  | { readonly kind: 'string'; readonly pattern?: RegExp; readonly hint?: string }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'replicas' }

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const FIELDS: { readonly [K in keyof NodeConfig]: FieldSpec } = {
  name: { kind: 'string', pattern: NAME_PATTERN, hint: '1-64 of A-Z a-z 0-9 . _ -' },
  bind: { kind: 'string', pattern: /^[A-Za-z0-9.:[\]-]{1,255}$/, hint: 'an IP address or host' },
  httpPort: { kind: 'integer', min: 0, max: 65535 },
  dataDir: { kind: 'string', pattern: /^.{1,4096}$/, hint: 'a non-empty path' },
  inMemory: { kind: 'boolean' },
  logLevel: { kind: 'enum', values: LOG_LEVELS },
  logFormat: { kind: 'enum', values: LOG_FORMATS },
  maxKeyBytes: { kind: 'integer', min: 1, max: 1900 },
  maxValueBytes: { kind: 'integer', min: 1, max: 256 * 1024 * 1024 },
  durability: { kind: 'enum', values: ['sync', 'relaxed'] },
  tombstoneGraceMs: { kind: 'integer', min: 1000, max: 365 * 86_400_000 },
  reapIntervalMs: { kind: 'integer', min: 10, max: 86_400_000 },
  maxClockSkewMs: { kind: 'integer', min: 1, max: 86_400_000 },
  gossipPort: { kind: 'integer', min: 0, max: 65535 },
  rpcPort: { kind: 'integer', min: 0, max: 65535 },
  advertise: { kind: 'string', pattern: /^[0-9A-Fa-f.:]{0,45}$/, hint: 'an IP address' },
  join: {
    kind: 'string',
    pattern: /^[A-Za-z0-9.:[\]/_,-]{0,4096}$/,
    hint: 'host:port,host:port,...',
  },
  gossipPreset: { kind: 'enum', values: ['lan', 'wan', 'local'] },
  encrypt: { kind: 'string', pattern: /^[A-Za-z0-9+/=]{0,64}$/, hint: 'a base64 key' },
  replicas: { kind: 'replicas' },
  partitions: { kind: 'integer', min: 1, max: 65536 },
  requestTimeoutMs: { kind: 'integer', min: 10, max: 600_000 },
  reclaimAfterMs: { kind: 'integer', min: 100, max: 365 * 86_400_000 },
  reconnectIntervalMs: { kind: 'integer', min: 0, max: 86_400_000 },
  antiEntropyIntervalMs: { kind: 'integer', min: 10, max: 7 * 86_400_000 },
  antiEntropyRecordsPerSec: { kind: 'integer', min: 1, max: 100_000_000 },
  handoffRecordsPerSec: { kind: 'integer', min: 1, max: 100_000_000 },
  tickIntervalMs: { kind: 'integer', min: 1, max: 10_000 },
  leaveOnShutdown: { kind: 'boolean' },
  leaveTimeoutMs: { kind: 'integer', min: 0, max: 3_600_000 },
  httpFastPath: { kind: 'boolean' },
  clockOffsetMs: { kind: 'integer', min: -315_360_000_000, max: 315_360_000_000 },
}

/** The config field names, in documentation order. */
export const CONFIG_FIELDS = Object.keys(FIELDS) as (keyof NodeConfig)[]

/** The host name reduced to a valid node name. */
export function defaultNodeName(): string {
  const cleaned = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
  return cleaned.length > 0 ? cleaned : 'gossamer'
}

/** The defaults, as a function because the name depends on the host. */
export function defaultNodeConfig(): NodeConfig {
  return {
    name: defaultNodeName(),
    bind: '127.0.0.1',
    httpPort: 8080,
    dataDir: './gossamer-data',
    inMemory: false,
    logLevel: 'info',
    logFormat: 'auto',
    maxKeyBytes: 1024,
    maxValueBytes: 1024 * 1024,
    durability: 'sync',
    tombstoneGraceMs: 7 * 86_400_000,
    reapIntervalMs: 60_000,
    maxClockSkewMs: 60_000,
    gossipPort: 7946,
    rpcPort: 7947,
    advertise: '',
    join: '',
    gossipPreset: 'lan',
    encrypt: '',
    replicas: 3,
    partitions: 4096,
    requestTimeoutMs: 5000,
    reclaimAfterMs: 3_600_000,
    reconnectIntervalMs: 10_000,
    antiEntropyIntervalMs: 60_000,
    antiEntropyRecordsPerSec: 20_000,
    handoffRecordsPerSec: 20_000,
    tickIntervalMs: 50,
    leaveOnShutdown: true,
    leaveTimeoutMs: 60_000,
    httpFastPath: true,
    clockOffsetMs: 0,
  }
}

/** `httpPort` → `GOSSAMER_HTTP_PORT`. */
export function envVarName(field: string): string {
  return 'GOSSAMER_' + field.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

/** One source of settings; `source` names it in error messages (`--config file`, `env`, ...). */
export interface ConfigLayer {
  readonly source: string
  readonly values: Readonly<Record<string, unknown>>
}

function coerceField(spec: FieldSpec, raw: unknown): { ok: true; value: unknown } | { ok: false } {
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || (spec.pattern && !spec.pattern.test(raw))) return { ok: false }
      return { ok: true, value: raw }
    case 'integer': {
      const n = typeof raw === 'string' && /^-?\d{1,16}$/.test(raw.trim()) ? Number(raw) : raw
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
        return { ok: false }
      }
      return { ok: true, value: n }
    }
    case 'boolean':
      if (typeof raw === 'boolean') return { ok: true, value: raw }
      if (typeof raw === 'string' && /^(true|1|yes|on)$/i.test(raw))
        return { ok: true, value: true }
      if (typeof raw === 'string' && /^(false|0|no|off)$/i.test(raw)) {
        return { ok: true, value: false }
      }
      return { ok: false }
    case 'enum':
      return typeof raw === 'string' && spec.values.includes(raw)
        ? { ok: true, value: raw }
        : { ok: false }
    case 'replicas':
      if (raw === 'all') return { ok: true, value: 'all' }
      return coerceField({ kind: 'integer', min: 1, max: 4096 }, raw)
  }
}

function describeSpec(spec: FieldSpec): string {
  switch (spec.kind) {
    case 'string':
      return spec.hint ?? 'a string'
    case 'integer':
      return `an integer from ${spec.min} to ${spec.max}`
    case 'boolean':
      return 'true or false'
    case 'enum':
      return `one of ${spec.values.join(', ')}`
    case 'replicas':
      return 'an integer from 1 to 4096, or all'
  }
}

function applyLayer(target: Record<string, unknown>, layer: ConfigLayer, problems: string[]): void {
  for (const [field, raw] of Object.entries(layer.values)) {
    if (raw === undefined) continue
    if (!Object.hasOwn(FIELDS, field)) {
      problems.push(`${layer.source}: unknown setting "${field}"`)
      continue
    }
    const spec = FIELDS[field as keyof NodeConfig]
    const result = coerceField(spec, raw)
    if (result.ok) target[field] = result.value
    else problems.push(`${layer.source}: ${field} must be ${describeSpec(spec)}, got ${show(raw)}`)
  }
}

function show(raw: unknown): string {
  const text = JSON.stringify(raw) ?? String(raw)
  return text.length > 80 ? text.slice(0, 77) + '...' : text
}

/**
 * Builds a validated, frozen config from layers applied in order over the defaults.
 * @throws GossamerError GOSSAMER_ERR_CONFIG_INVALID listing every problem.
 */
export function resolveNodeConfig(...layers: ConfigLayer[]): Readonly<NodeConfig> {
  const merged: Record<string, unknown> = { ...defaultNodeConfig() }
  const problems: string[] = []
  const explicit = new Set<string>()
  for (const layer of layers) {
    applyLayer(merged, layer, problems)
    for (const [field, raw] of Object.entries(layer.values))
      if (raw !== undefined) explicit.add(field)
  }
  // A node asked for any free HTTP port (tests, embedded use) gets free cluster ports too, unless
  // they were set: several such nodes then run side by side without colliding on 7946/7947.
  if (merged['httpPort'] === 0) {
    if (!explicit.has('gossipPort')) merged['gossipPort'] = 0
    if (!explicit.has('rpcPort')) merged['rpcPort'] = 0
  }
  checkEncryptKey(merged['encrypt'], problems)
  if (problems.length > 0) {
    throw new GossamerError(
      'GOSSAMER_ERR_CONFIG_INVALID',
      `invalid configuration:\n  - ${problems.join('\n  - ')}`,
    )
  }
  return Object.freeze(merged as unknown as NodeConfig)
}

function checkEncryptKey(raw: unknown, problems: string[]): void {
  if (typeof raw !== 'string' || raw === '') return
  const length = Buffer.from(raw, 'base64').length
  if (![16, 24, 32].includes(length) || Buffer.from(raw, 'base64').toString('base64') !== raw) {
    problems.push(`encrypt must be a base64 key of 16, 24 or 32 bytes, got ${length} bytes`)
  }
}

/** The `join` setting as a list of addresses. */
export function joinAddresses(config: Pick<NodeConfig, 'join'>): string[] {
  return config.join
    .split(',')
    .map((text) => text.trim())
    .filter((text) => text !== '')
}

/** Settings found in `GOSSAMER_<FIELD>` environment variables (empty ones are ignored). */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): ConfigLayer {
  const values: Record<string, unknown> = {}
  for (const field of CONFIG_FIELDS) {
    const raw = env[envVarName(field)]
    if (raw !== undefined && raw !== '') values[field] = raw
  }
  return { source: 'environment', values }
}

/** Reads a JSON config file (an object whose keys are config field names). */
export async function readConfigFile(path: string): Promise<ConfigLayer> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    throw new GossamerError('GOSSAMER_ERR_CONFIG_INVALID', `cannot read config ${path}: ${why}`, {
      cause: error,
    })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GossamerError('GOSSAMER_ERR_CONFIG_INVALID', `config ${path} must be a JSON object`)
  }
  return { source: `config file ${path}`, values: parsed as Record<string, unknown> }
}

/**
 * The full loading order for the CLI: defaults < config file (`configPath`, or
 * `GOSSAMER_CONFIG`) < environment < flags.
 */
export async function loadNodeConfig(options: {
  readonly flags: Readonly<Record<string, unknown>>
  readonly env: Readonly<Record<string, string | undefined>>
  readonly configPath?: string | undefined
}): Promise<Readonly<NodeConfig>> {
  const configPath = options.configPath ?? nonEmpty(options.env['GOSSAMER_CONFIG'])
  const layers: ConfigLayer[] = []
  if (configPath !== undefined) layers.push(await readConfigFile(configPath))
  layers.push(configFromEnv(options.env))
  layers.push({ source: 'command line', values: options.flags })
  return resolveNodeConfig(...layers)
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text
}
