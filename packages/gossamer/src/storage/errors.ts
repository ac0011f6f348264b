/**
 * Storage boundary errors. Both extend the project's `GossamerError`, so callers branch on
 * `code`: `GOSSAMER_ERR_STORAGE_CORRUPT` means the node must fail-stop (house style B7), and
 * `GOSSAMER_ERR_KEY_INVALID` / `GOSSAMER_ERR_KEY_TOO_LARGE` mean the caller passed a key the
 * engine cannot store (the API validates earlier; this is the last line).
 */
import { GossamerError } from '../errors.ts'

/** A stored record failed its checksum or could not be decoded. */
export class StorageCorruptionError extends GossamerError {
  /** The key whose record is corrupt, when known. */
  readonly key: string | undefined

  constructor(message: string, options?: { key?: string | undefined; cause?: unknown }) {
    const where = options?.key === undefined ? '' : ` (key ${JSON.stringify(options.key)})`
    super('GOSSAMER_ERR_STORAGE_CORRUPT', `corrupt stored record${where}: ${message}`, options)
    this.name = 'StorageCorruptionError'
    this.key = options?.key
  }
}

/** The key is empty, not well-formed UTF-16 (a lone surrogate), or longer than the engine allows. */
export class StorageKeyError extends GossamerError {
  constructor(code: 'GOSSAMER_ERR_KEY_INVALID' | 'GOSSAMER_ERR_KEY_TOO_LARGE', message: string) {
    super(code, message)
    this.name = 'StorageKeyError'
  }
}

/**
 * The engine failed to open, read or durably write (an I/O error, a full disk, a map that cannot
 * grow). The node treats it as fatal and stops serving (house style B7); `cause` has the
 * underlying error.
 */
export class StorageFailureError extends GossamerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GOSSAMER_ERR_STORAGE_FAILED', message, options)
    this.name = 'StorageFailureError'
  }
}

/** Rethrows `error` as-is when it already has a Gossamer code, else as a StorageFailureError. */
export function asStorageError(error: unknown, doing: string): Error {
  if (error instanceof GossamerError) return error
  const detail = error instanceof Error ? error.message : String(error)
  return new StorageFailureError(`storage failed while ${doing}: ${detail}`, { cause: error })
}
