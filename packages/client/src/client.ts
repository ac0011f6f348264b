/**
 * A typed client for a Gossamer node's `/v1` HTTP API. It uses only the global `fetch`,
 * `AbortSignal`, `TextEncoder`/`TextDecoder` and `atob`, so it runs unchanged in Node >= 20 and
 * in browsers, and has no dependencies.
 *
 * Values are bytes on the wire; `put` accepts a string (sent as UTF-8) or bytes, and `get`
 * returns bytes with a `text()` helper. Versions are the server's version strings
 * (`<wallMs>-<logical>-<nodeId>`); pass one back as `ifMatch` for compare-and-set.
 */
import {
  BadResponseError,
  ConnectionError,
  errorFromResponse,
  GossamerClientError,
  InvalidRequestError,
  TimeoutError,
} from './errors.ts'

/** Options for {@link GossamerClient}. */
export interface GossamerClientOptions {
  /** Base URL of a node, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string
  /** Per-request timeout in milliseconds. @default 10000 */
  readonly timeoutMs?: number | undefined
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch | undefined
}

/** A value read with {@link GossamerClient.get}. */
export interface GetResult {
  readonly key: string
  readonly value: Uint8Array
  /** The record's version (the ETag without quotes). */
  readonly version: string
  /** The stored content type (`application/octet-stream` when none was given). */
  readonly contentType: string
  /** Absolute expiry in Unix ms, when the value was written with a TTL. */
  readonly expiresAtMs: number | undefined
  /** The value decoded as UTF-8. */
  text(): string
}

/** Options for {@link GossamerClient.put}. */
export interface PutOptions {
  /** Time to live: `'30s'`, `'5m'`, `'1h'`, `'500ms'`, `'7d'`, or a number of milliseconds. */
  readonly ttl?: string | number | undefined
  /** Only write if the current version is this one (a version or an ETag). */
  readonly ifMatch?: string | undefined
  /** `'*'`: only write if the key has no live value. A version: only if it is not current. */
  readonly ifNoneMatch?: string | undefined
  /** Content type stored with the value. @default text/plain for strings, none for bytes */
  readonly contentType?: string | undefined
  /** Aborts the request. */
  readonly signal?: AbortSignal | undefined
}

/** The outcome of a put. */
export interface PutResult {
  readonly key: string
  /** The new version. */
  readonly version: string
  /** True when the key had no live value before. */
  readonly created: boolean
}

/** Options for {@link GossamerClient.delete}. */
export interface DeleteOptions {
  /** Only delete if the current version is this one (a version or an ETag). */
  readonly ifMatch?: string | undefined
  readonly signal?: AbortSignal | undefined
}

/** Options for {@link GossamerClient.list}. */
export interface ListOptions {
  /** Only keys starting with this prefix. */
  readonly prefix?: string | undefined
  /** Page size, 1..1000. @default 100 (server default) */
  readonly limit?: number | undefined
  /** The `cursor` of the previous page. */
  readonly cursor?: string | undefined
  /** Include values. @default false */
  readonly values?: boolean | undefined
  readonly signal?: AbortSignal | undefined
}

/** One listed key. */
export interface ListItem {
  readonly key: string
  readonly version: string
  readonly contentType?: string | undefined
  readonly expiresAtMs?: number | undefined
  /** Present when listed with `values: true`. */
  readonly value?: Uint8Array | undefined
}

/** One page of a listing. */
export interface ListPage {
  readonly items: ListItem[]
  /** Pass to the next `list` call; undefined on the last page. */
  readonly cursor: string | undefined
}

const TIMEOUT_MS_DEFAULT = 10_000
const utf8Decoder = new TextDecoder()
const utf8Encoder = new TextEncoder()

/**
 * Client for one Gossamer node.
 *
 * @example
 * ```ts
 * const client = new GossamerClient({ baseUrl: 'http://127.0.0.1:8080' })
 * const { version } = await client.put('greeting', 'hello', { ttl: '1h' })
 * const result = await client.get('greeting')   // throws NotFoundError when absent
 * console.log(result.text(), result.version === version)
 * await client.put('greeting', 'hi', { ifMatch: version }) // compare-and-set
 * ```
 */
export class GossamerClient {
  readonly baseUrl: string
  readonly timeoutMs: number
  readonly #fetch: typeof fetch

  constructor(options: GossamerClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.timeoutMs = options.timeoutMs ?? TIMEOUT_MS_DEFAULT
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /**
   * Reads a key.
   * @throws NotFoundError when the key has no live value.
   */
  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<GetResult> {
    const response = await this.#request('GET', keyPath(key), { signal: options.signal })
    const value = new Uint8Array(await response.arrayBuffer())
    const expires = response.headers.get('gossamer-expires-at')
    return {
      key,
      value,
      version: versionFromEtag(response.headers.get('etag')),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
      expiresAtMs: expires === null ? undefined : Number(expires),
      text: () => utf8Decoder.decode(value),
    }
  }

  /**
   * Writes a value.
   * @throws PreconditionFailedError when `ifMatch` / `ifNoneMatch` does not hold.
   * @throws PayloadTooLargeError when the value exceeds the server's limit.
   */
  async put(key: string, value: string | Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    const isText = typeof value === 'string'
    const headers: Record<string, string> = {}
    const contentType = options.contentType ?? (isText ? 'text/plain; charset=utf-8' : undefined)
    headers['content-type'] = contentType ?? 'application/octet-stream'
    if (options.ifMatch !== undefined) headers['if-match'] = toEtag(options.ifMatch)
    if (options.ifNoneMatch !== undefined) headers['if-none-match'] = toEtag(options.ifNoneMatch)
    const ttl = typeof options.ttl === 'number' ? `${Math.ceil(options.ttl)}ms` : options.ttl
    const query = ttl === undefined ? '' : `?ttl=${encodeURIComponent(ttl)}`
    const body = isText ? utf8Encoder.encode(value) : value
    const response = await this.#request('PUT', keyPath(key) + query, {
      headers,
      body,
      signal: options.signal,
    })
    const json = (await readJson(response)) as { version?: unknown }
    if (typeof json.version !== 'string') {
      throw new BadResponseError({ message: 'put response lacks a version', status: 200 })
    }
    return { key, version: json.version, created: response.status === 201 }
  }

  /**
   * Deletes a key. Resolves to true when a live value was deleted, false when there was none.
   * @throws PreconditionFailedError when `ifMatch` does not hold.
   */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    const headers: Record<string, string> = {}
    if (options.ifMatch !== undefined) headers['if-match'] = toEtag(options.ifMatch)
    try {
      await this.#request('DELETE', keyPath(key), { headers, signal: options.signal })
      return true
    } catch (error) {
      if (error instanceof GossamerClientError && error.code === 'GOSSAMER_ERR_KEY_NOT_FOUND') {
        return false
      }
      throw error
    }
  }

  /** Lists keys in order, one page at a time. */
  async list(options: ListOptions = {}): Promise<ListPage> {
    const params = new URLSearchParams()
    if (options.prefix !== undefined) params.set('prefix', options.prefix)
    if (options.limit !== undefined) params.set('limit', String(options.limit))
    if (options.cursor !== undefined) params.set('cursor', options.cursor)
    if (options.values === true) params.set('values', 'true')
    const query = params.size > 0 ? `?${params}` : ''
    const response = await this.#request('GET', `/v1/kv${query}`, { signal: options.signal })
    return parseListPage(await readJson(response))
  }

  /**
   * Iterates over every key (with the same options as `list`), fetching pages as needed, at
   * most `maxPages` pages. @default maxPages 10000
   */
  async *listAll(
    options: Omit<ListOptions, 'cursor'> & { maxPages?: number } = {},
  ): AsyncGenerator<ListItem> {
    let cursor: string | undefined
    for (let page = 0; page < (options.maxPages ?? 10_000); page++) {
      const result = await this.list({ ...options, cursor })
      yield* result.items
      cursor = result.cursor
      if (cursor === undefined) return
    }
  }

  /** True when the node answers `/v1/health`. */
  async health(): Promise<boolean> {
    await this.#request('GET', '/v1/health', {})
    return true
  }

  /** True when the node is ready to serve (`/v1/ready` is 200), false when it answers 503. */
  async ready(): Promise<boolean> {
    try {
      await this.#request('GET', '/v1/ready', {})
      return true
    } catch (error) {
      if (error instanceof GossamerClientError && error.status === 503) return false
      throw error
    }
  }

  async #request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Uint8Array; signal?: AbortSignal | undefined },
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = init.signal === undefined ? timeout : anySignal([timeout, init.signal])
    let response: Response
    try {
      response = await this.#fetch(this.baseUrl + path, {
        method,
        headers: init.headers,
        body: init.body,
        signal,
      })
    } catch (error) {
      throw transportError(error, { method, path, timeoutMs: this.timeoutMs, timeout })
    }
    if (response.ok) return response
    throw await responseError(response)
  }
}

function keyPath(key: string): string {
  if (key === '.' || key === '..') {
    // fetch removes dot segments from a path, even written %2E; the server refuses these keys.
    throw new InvalidRequestError({
      code: 'GOSSAMER_ERR_KEY_INVALID',
      message: `key "${key}" is a URL dot segment, which HTTP clients remove from paths; use another key`,
    })
  }
  return `/v1/kv/${encodeURIComponent(key)}`
}

function toEtag(versionOrEtag: string): string {
  if (versionOrEtag === '*' || versionOrEtag.startsWith('"') || versionOrEtag.startsWith('W/')) {
    return versionOrEtag
  }
  return `"${versionOrEtag}"`
}

function versionFromEtag(etag: string | null): string {
  if (etag === null || !/^"[^"]*"$/.test(etag)) {
    throw new BadResponseError({ message: `response has no valid ETag (${etag})` })
  }
  return etag.slice(1, -1)
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any
  if (any !== undefined) return any(signals)
  const controller = new AbortController()
  for (const signal of signals) {
    if (signal.aborted) controller.abort(signal.reason)
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true })
  }
  return controller.signal
}

function transportError(
  error: unknown,
  context: { method: string; path: string; timeoutMs: number; timeout: AbortSignal },
): GossamerClientError {
  const what = `${context.method} ${context.path}`
  if (context.timeout.aborted) {
    return new TimeoutError({
      message: `${what}: no response within ${context.timeoutMs} ms`,
      cause: error,
    })
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new GossamerClientError({
      code: 'GOSSAMER_CLIENT_ABORTED',
      message: `${what}: aborted`,
      cause: error,
    })
  }
  const reason = error instanceof Error ? (error.cause ?? error) : error
  const detail = reason instanceof Error ? reason.message : String(reason)
  return new ConnectionError({ message: `${what}: cannot reach server (${detail})`, cause: error })
}

async function responseError(response: Response): Promise<GossamerClientError> {
  let body: unknown
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
  if (typeof error?.code !== 'string') {
    return new BadResponseError({
      message: `HTTP ${response.status} without a Gossamer error body`,
      status: response.status,
    })
  }
  const message = typeof error.message === 'string' ? error.message : error.code
  return errorFromResponse({ status: response.status, code: error.code, message })
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json()
  } catch (error) {
    throw new BadResponseError({
      message: 'response is not JSON',
      status: response.status,
      cause: error,
    })
  }
}

function parseListPage(json: unknown): ListPage {
  const page = json as { items?: unknown; cursor?: unknown }
  if (!Array.isArray(page.items)) throw new BadResponseError({ message: 'list lacks items' })
  const items = page.items.map((raw: Record<string, unknown>) => ({
    key: String(raw['key']),
    version: String(raw['version']),
    contentType: typeof raw['contentType'] === 'string' ? raw['contentType'] : undefined,
    expiresAtMs: typeof raw['expiresAtMs'] === 'number' ? raw['expiresAtMs'] : undefined,
    value: typeof raw['value'] === 'string' ? fromBase64(raw['value']) : undefined,
  }))
  return { items, cursor: typeof page.cursor === 'string' ? page.cursor : undefined }
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
