/**
 * The one workload every system gets, expressed per system: 100-byte values, keys
 * `bench-000000`…, key choice by the deterministic `keyIndex` hash (uniform, repeatable), and three
 * operations — PUT only, GET only, and a 90/10 mix (every tenth request a PUT, the rest GETs).
 * Gossamer is driven through `/v1/kv/{key}` with the raw value as body; etcd through its JSON
 * gateway (`POST /v3/kv/put`, `POST /v3/kv/range`, keys and values base64 inside JSON — the only
 * HTTP interface etcd 3.4 has).
 */
import { keyIndex, type RequestSpec } from '../lib.ts'

export type Operation = 'PUT' | 'GET' | 'MIX'

/** Human label of an operation for the report. */
export const OPERATION_LABEL: Record<Operation, string> = {
  PUT: 'PUT',
  GET: 'GET',
  MIX: '90% GET / 10% PUT',
}

export const VALUE_BYTES = 100
const value = Buffer.alloc(VALUE_BYTES, 'v')
const valueBase64 = value.toString('base64')

/** The key of index i (the same keys in every system, and in Redis' `key:%012d` only by count). */
export const keyName = (i: number) => `bench-${String(i).padStart(6, '0')}`

/** How to PUT and GET one key on an HTTP system, under one consistency/durability setting. */
export interface HttpVariant {
  /** Consistency / durability setting, as printed in the report. */
  readonly setting: string
  /** Operations measured for this variant (a variant whose PUT equals another's skips it). */
  readonly operations: readonly Operation[]
  readonly put: (i: number) => RequestSpec
  readonly get: (i: number) => RequestSpec
}

const OCTETS = { 'content-type': 'application/octet-stream' }
const JSON_HEADERS = { 'content-type': 'application/json' }

/** Gossamer `/v1/kv` with optional `r`/`w` query parameters. */
export function gossamerVariant(options: {
  setting: string
  operations: readonly Operation[]
  w?: string
  r?: string
}): HttpVariant {
  const wq = options.w === undefined ? '' : `?w=${options.w}`
  const rq = options.r === undefined ? '' : `?r=${options.r}`
  return {
    setting: options.setting,
    operations: options.operations,
    put: (i) => ({
      method: 'PUT',
      path: `/v1/kv/${keyName(i)}${wq}`,
      body: value,
      headers: OCTETS,
    }),
    get: (i) => ({ method: 'GET', path: `/v1/kv/${keyName(i)}${rq}` }),
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64')

/** The etcd body of a put of key i (exported for the preload check). */
export const etcdPutBody = (i: number) => `{"key":"${b64(keyName(i))}","value":"${valueBase64}"}`

/** etcd's gateway: puts always go through Raft; ranges linearizable (default) or serializable. */
export function etcdVariant(options: {
  setting: string
  operations: readonly Operation[]
  serializable: boolean
}): HttpVariant {
  const rangeTail = options.serializable ? ',"serializable":true}' : '}'
  return {
    setting: options.setting,
    operations: options.operations,
    put: (i) => ({
      method: 'POST',
      path: '/v3/kv/put',
      body: etcdPutBody(i),
      headers: JSON_HEADERS,
    }),
    get: (i) => ({
      method: 'POST',
      path: '/v3/kv/range',
      body: `{"key":"${b64(keyName(i))}"${rangeTail}`,
      headers: JSON_HEADERS,
    }),
  }
}

/** The request builder for one timed run of `operation` over `keyCount` keys. */
export function requestsFor(
  variant: HttpVariant,
  operation: Operation,
  keyCount: number,
): (n: number) => RequestSpec {
  switch (operation) {
    case 'PUT':
      return (n) => variant.put(keyIndex(n, keyCount))
    case 'GET':
      return (n) => variant.get(keyIndex(n, keyCount))
    case 'MIX':
      return (n) => (n % 10 === 9 ? variant.put : variant.get)(keyIndex(n, keyCount))
  }
}
