/**
 * The `gossamer` command line, built with commander: `agent` runs a node; `get`, `put`, `del`,
 * `ls` and `members` talk to one; `dev` runs a local cluster. Every agent flag can also come from `GOSSAMER_<FLAG>` (e.g.
 * `GOSSAMER_HTTP_PORT`), and the client commands read `GOSSAMER_ADDR`.
 */
import { Command, CommanderError } from 'commander'
import { registerDevCommand } from './dev.ts'
import { CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.ts'
import { runDel, runGet, runLs, runPut } from './kv-commands.ts'
import { runMembers, runMembersRemove } from './members-commands.ts'

function addClientOptions(command: Command): Command {
  return command
    .option('--addr <url>', 'node address (env GOSSAMER_ADDR)', undefined)
    .option('--timeout-ms <ms>', 'request timeout in milliseconds', undefined)
}

/** Builds the program; `setExitCode` receives the command's exit code. */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('gossamer')
    .description('Gossamer: a distributed key-value store')
    .exitOverride()
    .showHelpAfterError()
  program
    .command('agent')
    .description('run a node in the foreground')
    .option('--name <name>', 'node name (default: host name)')
    .option('--bind <address>', 'HTTP bind address (default 127.0.0.1)')
    .option('--http-port <port>', 'HTTP port, 0 = any free port (default 8080)')
    .option('--data-dir <path>', 'LMDB data directory (default ./gossamer-data)')
    .option('--in-memory', 'keep data in memory only (lost on exit)')
    .option('--config <file>', 'JSON config file (env GOSSAMER_CONFIG)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info)')
    .option('--log-format <format>', 'auto|json|pretty (default auto)')
    .option('--gossip-port <port>', 'gossip port, UDP and TCP (default 7946)')
    .option('--rpc-port <port>', 'node-to-node RPC port (default 7947)')
    .option('--advertise <ip>', 'address other nodes reach this one at (default: --bind)')
    .option('--join <addresses>', 'host:port,... of nodes to join (retried until one answers)')
    .option('--gossip-preset <preset>', 'lan|wan|local gossip timings (default lan)')
    .option('--encrypt <key>', 'base64 AES key (16, 24 or 32 bytes) for gossip')
    .option('--replicas <n>', 'replicas per key, or all (default 3)')
    .option('--partitions <n>', 'partitions, fixed at cluster creation (default 4096)')
    .option(
      '--leave-on-shutdown <bool>',
      'hand off and leave the cluster on SIGTERM (default true)',
    )
    .action(async (flags) => {
      // Loaded on demand: the client commands should not pay for the server's imports.
      const { runAgent } = await import('./agent.ts')
      setExitCode(await runAgent(flags))
    })
  addClientOptions(program.command('get <key>').description('print the value of a key')).action(
    async (key, flags) => runGet(key, flags),
  )
  addClientOptions(
    program
      .command('put <key> [value]')
      .description('store a value (read from stdin when omitted); prints the new version')
      .option('--ttl <duration>', 'time to live, e.g. 30s, 5m, 1h')
      .option('--content-type <type>', 'content type stored with the value')
      .option('--if-match <version>', 'only if the current version is this one')
      .option('--if-none-match <version>', "'*': only if the key does not exist"),
  ).action(async (key, value, flags) => runPut(key, value, flags))
  addClientOptions(
    program
      .command('del <key>')
      .alias('delete')
      .description('delete a key')
      .option('--if-match <version>', 'only if the current version is this one'),
  ).action(async (key, flags) => runDel(key, flags))
  addClientOptions(
    program
      .command('ls [prefix]')
      .description('list keys in order, one per line')
      .option('--prefix <prefix>', 'only keys starting with this prefix')
      .option('--limit <count>', 'print at most this many keys'),
  ).action(async (prefix, flags) => runLs(prefix, flags))
  const members = addClientOptions(
    program.command('members').description('list the cluster members (table)'),
  ).action(async (flags) => runMembers(flags))
  addClientOptions(
    members
      .command('remove <name>')
      .description('remove a node from the ownership set (its partitions move to the others)'),
  ).action(async (name, flags, command) =>
    runMembersRemove(name, { ...command.parent?.opts(), ...flags }),
  )
  registerDevCommand(program, setExitCode)
  return program
}

/** Runs the command line and resolves with the process exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  let exitCode = EXIT_OK
  const program = buildProgram((code) => {
    exitCode = code
  })
  try {
    await program.parseAsync([...argv])
    return exitCode
  } catch (error) {
    if (error instanceof CliExit) {
      process.stderr.write(`gossamer: ${error.message}\n`)
      return error.exitCode
    }
    if (error instanceof CommanderError) {
      // Help and version are "errors" to commander; they already printed their output.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE
    }
    process.stderr.write(`gossamer: ${(error as Error)?.stack ?? String(error)}\n`)
    return EXIT_FAILURE
  }
}
