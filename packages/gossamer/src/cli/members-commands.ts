/**
 * `gossamer members [--addr]` prints the cluster's members as a table (name, address, state,
 * role, owner, HTTP and RPC endpoints) from `GET /v1/cluster/members`; `gossamer members remove
 * <name>` removes a node from the ownership set (`DELETE /v1/cluster/members/{name}`), so its
 * partitions move to the remaining owners. Exit codes as for the other client commands.
 */
import { CliExit, EXIT_FAILURE } from './exit-codes.ts'
import { type ClientFlags, resolveAddr } from './kv-commands.ts'

interface MemberRow {
  readonly name: string
  readonly address: string
  readonly state: string
  readonly role: string | null
  readonly http: string | null
  readonly rpc: string | null
  readonly owner: boolean
}

async function call(flags: ClientFlags, method: string, path: string): Promise<unknown> {
  const timeoutMs = flags.timeoutMs === undefined ? 10_000 : Number(flags.timeoutMs)
  const base = resolveAddr(flags, process.env)
  let response: Response
  try {
    response = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(timeoutMs) })
  } catch (error) {
    throw new CliExit(EXIT_FAILURE, `cannot reach ${base}: ${(error as Error).message}`)
  }
  const body = (await response.json().catch(() => undefined)) as
    | { error?: { code: string; message: string } }
    | undefined
  if (!response.ok) {
    const detail = body?.error
      ? `${body.error.code}: ${body.error.message}`
      : `HTTP ${response.status}`
    throw new CliExit(EXIT_FAILURE, `error ${detail}`)
  }
  return body
}

/** Formats rows as left-aligned columns. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>) {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

/** `gossamer members`. */
export async function runMembers(flags: ClientFlags): Promise<void> {
  const body = (await call(flags, 'GET', '/v1/cluster/members')) as { members: MemberRow[] }
  const rows = [...body.members]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((m) => [
      m.name,
      m.address,
      m.state,
      m.role ?? '-',
      m.owner ? 'yes' : 'no',
      m.http ?? '-',
      m.rpc ?? '-',
    ])
  process.stdout.write(
    formatTable(['NAME', 'ADDRESS', 'STATE', 'ROLE', 'OWNER', 'HTTP', 'RPC'], rows),
  )
}

/** `gossamer members remove <name>`. */
export async function runMembersRemove(name: string, flags: ClientFlags): Promise<void> {
  await call(flags, 'DELETE', `/v1/cluster/members/${encodeURIComponent(name)}`)
  process.stdout.write(`removed ${name} from the ownership set\n`)
}
