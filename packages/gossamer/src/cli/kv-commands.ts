/**
 * `gossamer get|put|del|ls`: talk to a running node through `@gossamer/client`.
 *
 * - `get <key>` writes the value's bytes to stdout (plus a newline when stdout is a terminal);
 *   a missing key prints `not found: <key>` to stderr and exits 1.
 * - `put <key> [value]` stores the value, or stdin when no value is given; prints the version.
 * - `del <key>` deletes; a missing key prints `not found` and exits 1.
 * - `ls [prefix]` prints matching keys, one per line, in order.
 */
import {
  ConnectionError,
  GossamerClient,
  GossamerClientError,
  NotFoundError,
  PreconditionFailedError,
  TimeoutError,
} from '@gossamer/client'
import { CliExit, EXIT_FAILURE, EXIT_USAGE } from './exit-codes.ts'

/** Options shared by the client commands. */
export interface ClientFlags {
  readonly addr?: string
  readonly timeoutMs?: string
}

/** The node address: `--addr`, else `GOSSAMER_ADDR`, else `http://127.0.0.1:8080`. */
export function resolveAddr(flags: ClientFlags, env: NodeJS.ProcessEnv): string {
  const addr = flags.addr ?? (env['GOSSAMER_ADDR'] || 'http://127.0.0.1:8080')
  return /^https?:\/\//.test(addr) ? addr : `http://${addr}`
}

function clientOf(flags: ClientFlags): GossamerClient {
  const timeoutMs = flags.timeoutMs === undefined ? 10_000 : Number(flags.timeoutMs)
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new CliExit(EXIT_USAGE, '--timeout-ms must be a positive integer')
  }
  return new GossamerClient({ baseUrl: resolveAddr(flags, process.env), timeoutMs })
}

/** Maps client errors to a one-line message and exit code. */
export function toCliExit(error: unknown, key?: string): unknown {
  if (error instanceof NotFoundError) return new CliExit(EXIT_FAILURE, `not found: ${key ?? ''}`)
  if (error instanceof PreconditionFailedError) {
    return new CliExit(EXIT_FAILURE, `precondition failed: ${error.message}`)
  }
  if (error instanceof ConnectionError || error instanceof TimeoutError) {
    return new CliExit(EXIT_FAILURE, error.message)
  }
  if (error instanceof GossamerClientError) {
    return new CliExit(EXIT_FAILURE, `error ${error.code}: ${error.message}`)
  }
  return error
}

async function withErrors<T>(key: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw toCliExit(error, key)
  }
}

/** `gossamer get <key>`. */
export async function runGet(key: string, flags: ClientFlags): Promise<void> {
  const result = await withErrors(key, () => clientOf(flags).get(key))
  process.stdout.write(result.value)
  if (process.stdout.isTTY) process.stdout.write('\n')
}

/** Options of `gossamer put`. */
export interface PutFlags extends ClientFlags {
  readonly ttl?: string
  readonly contentType?: string
  readonly ifMatch?: string
  readonly ifNoneMatch?: string
}

/** `gossamer put <key> [value]` (value from stdin when omitted). */
export async function runPut(key: string, value: string | undefined, flags: PutFlags) {
  const bytes = value === undefined ? await readStdin() : value
  const result = await withErrors(key, () =>
    clientOf(flags).put(key, bytes, {
      ttl: flags.ttl,
      contentType: flags.contentType,
      ifMatch: flags.ifMatch,
      ifNoneMatch: flags.ifNoneMatch,
    }),
  )
  process.stdout.write(result.version + '\n')
}

/** `gossamer del <key>`. */
export async function runDel(key: string, flags: ClientFlags & { ifMatch?: string }) {
  const deleted = await withErrors(key, () =>
    clientOf(flags).delete(key, { ifMatch: flags.ifMatch }),
  )
  if (!deleted) throw new CliExit(EXIT_FAILURE, `not found: ${key}`)
}

/** `gossamer ls [prefix]`. */
export async function runLs(
  prefix: string | undefined,
  flags: ClientFlags & { prefix?: string; limit?: string },
) {
  const limit = flags.limit === undefined ? Number.POSITIVE_INFINITY : Number(flags.limit)
  if (!(limit > 0)) throw new CliExit(EXIT_USAGE, '--limit must be a positive integer')
  const client = clientOf(flags)
  let printedCount = 0
  await withErrors(undefined, async () => {
    for await (const item of client.listAll({ prefix: prefix ?? flags.prefix, limit: 1000 })) {
      if (printedCount >= limit) break
      process.stdout.write(item.key + '\n')
      printedCount += 1
    }
  })
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
