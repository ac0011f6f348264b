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
