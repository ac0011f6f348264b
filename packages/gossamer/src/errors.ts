/**
 * The catalogue of boundary errors: every failure a client, an operator or an embedding program
 * can see carries one of these stable codes. Callers branch on `code`, never on message text.
 * `docs/errors.md` documents every code; `test/errors.test.ts` fails when the two disagree.
 *
 * The HTTP status lives next to each code so that the API, the CLI and the docs agree on it; the
 * API's error mapper is the only place that turns a code into a response.
 */

/** One catalogue entry: the HTTP status the API answers with, and a one-line meaning. */
export interface ErrorSpec {
  readonly httpStatus: number
  readonly meaning: string
}

/** Every stable error code with its HTTP status and meaning. Append only; never rename. */
export const ERROR_CATALOGUE = {
  GOSSAMER_ERR_KEY_NOT_FOUND: {
    httpStatus: 404,
    meaning: 'The key has no live value (never written, deleted, or expired).',
  },
  GOSSAMER_ERR_KEY_INVALID: {
    httpStatus: 400,
    meaning: 'The key is missing, empty, not a string, or not valid percent-encoded UTF-8.',
  },
  GOSSAMER_ERR_KEY_TOO_LARGE: {
    httpStatus: 400,
    meaning: 'The key is longer than maxKeyBytes bytes of UTF-8.',
  },
  GOSSAMER_ERR_VALUE_TOO_LARGE: {
    httpStatus: 413,
    meaning: 'The value is longer than maxValueBytes bytes.',
  },
  GOSSAMER_ERR_BODY_TOO_LARGE: {
    httpStatus: 413,
    meaning: 'The request body is larger than the server accepts for this route.',
  },
  GOSSAMER_ERR_BODY_INVALID_JSON: {
    httpStatus: 400,
    meaning: 'The request body is not well-formed JSON.',
  },
  GOSSAMER_ERR_BODY_INVALID: {
    httpStatus: 400,
    meaning: 'The request body is JSON of the wrong shape, or the body framing is broken.',
  },
  GOSSAMER_ERR_VALUE_INVALID: {
    httpStatus: 400,
    meaning: 'The value is missing or not a string where a string is required.',
  },
  GOSSAMER_ERR_PRECONDITION_FAILED: {
    httpStatus: 412,
    meaning: 'An If-Match or If-None-Match condition did not hold; nothing was written.',
  },
  GOSSAMER_ERR_ROUTE_NOT_FOUND: {
    httpStatus: 404,
    meaning: 'No route has this path.',
  },
  GOSSAMER_ERR_METHOD_NOT_ALLOWED: {
    httpStatus: 405,
    meaning: 'The path exists but not with this HTTP method (see the Allow header).',
  },
  GOSSAMER_ERR_URL_INVALID: {
    httpStatus: 400,
    meaning: 'The request URL cannot be decoded.',
  },
  GOSSAMER_ERR_REQUEST_INVALID: {
    httpStatus: 400,
    meaning: 'The HTTP request is malformed and was rejected before routing.',
  },
  GOSSAMER_ERR_HEADER_INVALID: {
    httpStatus: 400,
    meaning: 'A request header (such as If-Match) is malformed.',
  },
  GOSSAMER_ERR_TTL_INVALID: {
    httpStatus: 400,
    meaning: 'The ttl parameter is not a positive duration such as 500ms, 30s, 5m, 1h or 7d.',
  },
  GOSSAMER_ERR_CURSOR_INVALID: {
    httpStatus: 400,
    meaning: 'The list cursor was not produced by this server.',
  },
  GOSSAMER_ERR_LIMIT_INVALID: {
    httpStatus: 400,
    meaning: 'The list limit is not an integer between 1 and 1000.',
  },
  GOSSAMER_ERR_QUERY_INVALID: {
    httpStatus: 400,
    meaning: 'A query parameter has an unexpected value (for example values=maybe).',
  },
  GOSSAMER_ERR_UNSUPPORTED_MEDIA_TYPE: {
    httpStatus: 415,
    meaning: 'The request content type cannot be accepted by this route.',
  },
  GOSSAMER_ERR_CONFIG_INVALID: {
    httpStatus: 500,
    meaning: 'The node configuration has one or more invalid fields; all are listed.',
  },
  GOSSAMER_ERR_NOT_READY: {
    httpStatus: 503,
    meaning: 'The node is starting or shutting down and does not serve requests yet or any more.',
  },
  GOSSAMER_ERR_CLOCK_SKEW: {
    httpStatus: 503,
    meaning: 'A stored or received version is further ahead of the wall clock than maxClockSkewMs.',
  },
  GOSSAMER_ERR_STORAGE_FAILED: {
    httpStatus: 500,
    meaning: 'The storage engine failed to read or durably write; the node stops serving.',
  },
  GOSSAMER_ERR_STORAGE_CORRUPT: {
    httpStatus: 500,
    meaning: 'A stored record cannot be decoded.',
  },
  GOSSAMER_ERR_INTERNAL: {
    httpStatus: 500,
    meaning: 'An unexpected server error (a bug); the log has the details.',
  },
  GOSSAMER_ERR_QUORUM_NOT_REACHED: {
    httpStatus: 503,
    meaning:
      'Fewer replicas than the requested r or w could answer; a failed write may still have reached some.',
  },
  GOSSAMER_ERR_TIMEOUT: {
    httpStatus: 504,
    meaning:
      'The replicas did not answer within the request deadline; a failed write may still have reached some.',
  },
  GOSSAMER_ERR_RPC_TIMEOUT: {
    httpStatus: 504,
    meaning:
      'A node-to-node call got no reply within its timeout; it may or may not have been applied.',
  },
  GOSSAMER_ERR_RPC_QUEUE_FULL: {
    httpStatus: 503,
    meaning: 'Too many node-to-node calls are pending to one peer; the call was not sent.',
  },
  GOSSAMER_ERR_RPC_CLOSED: {
    httpStatus: 503,
    meaning:
      'The node-to-node client was closed (the node is shutting down) before the call completed.',
  },
  GOSSAMER_ERR_RPC_CONNECTION_LOST: {
    httpStatus: 503,
    meaning:
      'The connection to a peer dropped after the call was sent; it may or may not have been applied.',
  },
  GOSSAMER_ERR_RPC_UNAVAILABLE: {
    httpStatus: 503,
    meaning:
      'A node-to-node call was not sent: the peer could not be connected to (it refused or did not answer a dial).',
  },
  GOSSAMER_ERR_RPC_REMOTE: {
    httpStatus: 502,
    meaning:
      'The peer answered a node-to-node call with an error (unknown method, malformed request, handler failure).',
  },
  GOSSAMER_ERR_RPC_BAD_RESPONSE: {
    httpStatus: 502,
    meaning: "The peer's reply to a node-to-node call could not be decoded.",
  },
  GOSSAMER_ERR_PARTITION_COUNT_MISMATCH: {
    httpStatus: 409,
    meaning: "The node's partition count differs from the cluster's; it cannot join.",
  },
  GOSSAMER_ERR_NODE_NOT_FOUND: {
    httpStatus: 404,
    meaning: 'No member of the cluster has this name.',
  },
  GOSSAMER_ERR_HINT_STORE_FULL: {
    httpStatus: 503,
    meaning: 'The durable hint store holds its maximum number of hints; the hint was not stored.',
  },
} as const satisfies Record<string, ErrorSpec>

/** A stable error code, `GOSSAMER_ERR_<WHAT>`. */
export type GossamerErrorCode = keyof typeof ERROR_CATALOGUE

/** All codes, in catalogue order. */
export const ERROR_CODES: readonly GossamerErrorCode[] = Object.keys(
  ERROR_CATALOGUE,
) as GossamerErrorCode[]

/** True when `code` is one of the catalogue's codes. */
export function isGossamerErrorCode(code: unknown): code is GossamerErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code)
}

/**
 * An expected failure at a boundary (HTTP input, CLI flags, config, storage open). Carries a
 * stable code and the HTTP status the API answers with.
 */
export class GossamerError extends Error {
  readonly code: GossamerErrorCode
  readonly httpStatus: number

  constructor(code: GossamerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GossamerError'
    this.code = code
    this.httpStatus = ERROR_CATALOGUE[code].httpStatus
  }
}

/**
 * True for any object that looks like a GossamerError, even one from another copy of this
 * package (so callers need not rely on `instanceof`).
 */
export function isGossamerError(error: unknown): error is GossamerError {
  return (
    typeof error === 'object' &&
    error !== null &&
    isGossamerErrorCode((error as { code?: unknown }).code)
  )
}
