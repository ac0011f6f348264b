/**
 * Entry point of the `gossamer` command: `node --import tsx packages/gossamer/src/cli/main.ts
 * <command>` or the `gossamer` bin. Sets the exit code from the command's result.
 */
import { runCli } from './program.ts'

const exitCode = await runCli(process.argv)
// NB: exit explicitly (metrics collectors and keep-alive sockets must not hold the process),
// but only once stdout has flushed, so a large value piped to another program is not cut off.
process.stdout.write('', () => process.exit(exitCode))
