/**
 * Exit codes of the `gossamer` command, as a shell user expects them: 0 success, 1 the
 * operation failed (not found, precondition failed, server or connection error), 2 the
 * command line or configuration is wrong.
 */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** An error that ends the command with `exitCode` after printing `message` to stderr. */
export class CliExit extends Error {
  readonly exitCode: number

  constructor(exitCode: number, message: string) {
    super(message)
    this.name = 'CliExit'
    this.exitCode = exitCode
  }
}
