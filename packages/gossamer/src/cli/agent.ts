/**
 * `gossamer agent`: runs a node in the foreground. Prints exactly one JSON line to stdout once
 * it listens — `{"event":"listening","name":"n1","http":"http://127.0.0.1:8080",
 * "gossip":"127.0.0.1:7946","rpc":"127.0.0.1:7947"}` with the actual ports — so scripts can
 * find it; logs go to stderr. SIGINT or SIGTERM shut it down cleanly (a graceful leave unless
 * `--leave-on-shutdown false`, then stop accepting, finish in-flight requests, close the store)
 * and exit 0.
 */
import { loadNodeConfig } from '../config.ts'
import { isGossamerError } from '../errors.ts'
import { startNode } from '../node.ts'
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.ts'

/** Flags of `gossamer agent`, as commander parsed them (strings; absent = undefined). */
export interface AgentFlags {
  readonly name?: string
  readonly bind?: string
  readonly httpPort?: string
  readonly dataDir?: string
  readonly inMemory?: boolean
  readonly config?: string
  readonly logLevel?: string
  readonly logFormat?: string
  readonly gossipPort?: string
  readonly rpcPort?: string
  readonly advertise?: string
  readonly join?: string
  readonly gossipPreset?: string
  readonly encrypt?: string
  readonly replicas?: string
  readonly partitions?: string
  readonly leaveOnShutdown?: string
}

/** Longest time a shutdown may take after the graceful leave before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 15_000

/** Starts the node and resolves with the exit code once it has shut down. */
export async function runAgent(flags: AgentFlags): Promise<number> {
  const { config: configPath, ...fields } = flags
  let config: Awaited<ReturnType<typeof loadNodeConfig>>
  try {
    config = await loadNodeConfig({ flags: fields, env: process.env, configPath })
  } catch (error) {
    if (isGossamerError(error)) throw new CliExit(EXIT_USAGE, error.message)
    throw error
  }
  let stop: (code: number) => void = () => {}
  const stopped = new Promise<number>((resolve) => {
    stop = resolve
  })
  const node = await startNode({ ...config, onStorageFailure: () => stop(EXIT_FAILURE) }).catch(
    (error: unknown) => {
      throw new CliExit(EXIT_FAILURE, `cannot start node: ${(error as Error).message ?? error}`)
    },
  )
  const listening = {
    event: 'listening',
    name: node.name,
    http: node.httpUrl,
    gossip: node.gossipAddress,
    rpc: node.rpcAddress,
  }
  process.stdout.write(JSON.stringify(listening) + '\n')
  const onSignal = (signal: NodeJS.Signals) => {
    node.logger.info({ signal }, 'shutting down')
    stop(EXIT_OK)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const exitCode = await stopped
  const deadline = setTimeout(
    () => {
      node.logger.error('shutdown took too long; exiting')
      process.exit(EXIT_FAILURE)
    },
    SHUTDOWN_DEADLINE_MS + (config.leaveOnShutdown ? config.leaveTimeoutMs + 10_000 : 0),
  )
  deadline.unref()
  await node.close()
  clearTimeout(deadline)
  return exitCode
}
