/**
 * The key-value operations the HTTP routes call. Two implementations: `KvService` (one engine,
 * no coordination; `buildApp` uses it when no cluster is given) and `ClusterKvService` (every
 * request coordinated across the key's replicas with per-request `r` / `w`).
 */
import type { Consistency } from '../replication/consistency.ts'
import type { ScanPage } from '../storage/engine.ts'
import type { LiveRecord, WritePreconditions, WriteResult } from './kv-service.ts'

/** Key-value operations behind every route; results may be sync or async. */
export interface KvApi {
  /** False once a storage operation failed (the node stops serving). */
  readonly isHealthy: boolean
  /** The wall time used for TTLs and expiry, Unix ms. */
  nowMs(): number
  /** The live record of `key`, or undefined. */
  get(
    key: string,
    options?: { r?: Consistency | undefined },
  ): LiveRecord | undefined | Promise<LiveRecord | undefined>
  /** Writes a value. */
  put(options: {
    key: string
    value: Uint8Array
    contentType?: string | undefined
    expiresAtMs?: number | undefined
    preconditions?: WritePreconditions | undefined
    w?: Consistency | undefined
    r?: Consistency | undefined
  }): Promise<WriteResult>
  /** Writes a tombstone. */
  delete(options: {
    key: string
    preconditions?: WritePreconditions | undefined
    w?: Consistency | undefined
    r?: Consistency | undefined
  }): Promise<WriteResult>
  /** One page of live records in key order. */
  list(options: {
    prefix?: string | undefined
    after?: string | undefined
    limit: number
  }): ScanPage | Promise<ScanPage>
}
