/**
 * Logging with pino. Logs always go to stderr: stdout is reserved for machine-readable output
 * (the agent's one `listening` JSON line, the CLI's values). JSON lines by default; pretty,
 * human-readable lines when asked (`--log-format pretty`) or, with `auto`, when stderr is a
 * terminal.
 */
import { pino } from 'pino'
import pinoPretty from 'pino-pretty'
import type { LogFormat, LogLevel } from './config.ts'

/** The logger type used across the node (pino's). */
export type Logger = pino.Logger

/** Options for `createLogger`. */
export interface LoggerOptions {
  /** @default 'info' */
  readonly level?: LogLevel | undefined
  /** @default 'auto' */
  readonly format?: LogFormat | undefined
  /** Fields added to every line (e.g. the node name). */
  readonly bindings?: Readonly<Record<string, unknown>> | undefined
  /** Whether stderr is a terminal (injected for tests). @default process.stderr.isTTY */
  readonly isTerminal?: boolean | undefined
}

/** True when the resolved format is pretty. */
export function isPrettyFormat(format: LogFormat, isTerminal: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && isTerminal)
}

/** Creates the node's logger, writing to stderr (fd 2). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info'
  const isTerminal = options.isTerminal ?? process.stderr.isTTY === true
  const pretty = isPrettyFormat(options.format ?? 'auto', isTerminal)
  // NB: pino-pretty as an in-process stream (not a worker transport), so that the last lines
  // before exit are never lost and no extra thread is started.
  const destination = pretty
    ? pinoPretty({ destination: 2, colorize: isTerminal, sync: true })
    : pino.destination({ fd: 2, sync: true })
  const logger = pino({ level, base: { ...options.bindings } }, destination)
  return logger
}

/** A logger that drops everything (tests, embedded use without logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
