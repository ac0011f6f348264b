/**
 * The encryption keyring (shared/reference/memberlist-wire-protocol.md §4.4), with Go's rules:
 * keys are 16, 24 or 32 bytes; the first key is the primary, the only one used to encrypt and
 * the first tried to decrypt; installing appends (a no-op for a key already installed) and makes
 * the key primary only if the ring was empty; `use` moves an installed key to the front;
 * removing the primary is refused, removing an absent key is a no-op. Encryption is on whenever
 * the ring holds a key. Nothing here travels on the wire: rotating keys across a cluster is the
 * operator's job.
 */

import { isValidKeyLength } from './crypto.ts'
import { bytesEqual } from './label.ts'

/** Stable codes for keyring operations that are refused. */
export type KeyringErrorCode =
  | 'MEMBERLIST_ERR_KEY_SIZE'
  | 'MEMBERLIST_ERR_KEY_NOT_INSTALLED'
  | 'MEMBERLIST_ERR_REMOVE_PRIMARY_KEY'

/** Result of a keyring operation. */
export type KeyringResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: KeyringErrorCode; readonly message: string }

function refused(code: KeyringErrorCode, message: string): KeyringResult {
  return { ok: false, code, message }
}

const done: KeyringResult = { ok: true }

/** An ordered list of AES keys; index 0 is the primary. */
export class Keyring {
  private ring: Uint8Array[] = []

  /**
   * Builds a keyring like Go's `NewKeyring(keys, primaryKey)`: the primary defaults to the
   * first key; an empty list gives an empty (disabled) ring.
   */
  static create(opts: {
    readonly keys: readonly Uint8Array[]
    readonly primaryKey?: Uint8Array | undefined
  }): { readonly ok: true; readonly keyring: Keyring } | Extract<KeyringResult, { ok: false }> {
    const keyring = new Keyring()
    const primary = opts.primaryKey ?? opts.keys[0]
    if (primary === undefined) {
      return { ok: true, keyring }
    }
    for (const key of [primary, ...opts.keys]) {
      const r = keyring.install(key)
      if (!r.ok) return r
    }
    return { ok: true, keyring }
  }

  /** Installs a key; it becomes primary only if the ring was empty. */
  install(key: Uint8Array): KeyringResult {
    if (!isValidKeyLength(key.length)) {
      return refused(
        'MEMBERLIST_ERR_KEY_SIZE',
        `key size must be 16, 24 or 32 bytes, got ${key.length}`,
      )
    }
    if (this.indexOf(key) !== -1) return done
    this.ring.push(key.slice())
    return done
  }

  /** Makes an installed key the primary. */
  use(key: Uint8Array): KeyringResult {
    const i = this.indexOf(key)
    if (i === -1)
      return refused('MEMBERLIST_ERR_KEY_NOT_INSTALLED', 'requested key is not in the keyring')
    const [k] = this.ring.splice(i, 1)
    this.ring.unshift(k!)
    return done
  }

  /** Removes a key other than the primary; removing an absent key does nothing. */
  remove(key: Uint8Array): KeyringResult {
    const i = this.indexOf(key)
    if (i === 0)
      return refused('MEMBERLIST_ERR_REMOVE_PRIMARY_KEY', 'removing the primary key is not allowed')
    if (i > 0) this.ring.splice(i, 1)
    return done
  }

  /** Copies of the installed keys, primary first. */
  list(): Uint8Array[] {
    return this.ring.map((k) => k.slice())
  }

  /** The keys in decryption order (not copies; do not mutate). */
  keys(): readonly Uint8Array[] {
    return this.ring
  }

  /** The key used to encrypt, or undefined when the ring is empty. */
  primaryKey(): Uint8Array | undefined {
    return this.ring[0]
  }

  /** True when the ring holds at least one key, i.e. encryption is on. */
  get enabled(): boolean {
    return this.ring.length > 0
  }

  private indexOf(key: Uint8Array): number {
    return this.ring.findIndex((k) => bytesEqual(k, key))
  }
}
