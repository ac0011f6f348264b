/**
 * Errors thrown by the client. Every error carries a `code`: the server's stable
 * `GOSSAMER_ERR_*` code (see the server's docs/errors.md) when the server answered, or a
 * `GOSSAMER_CLIENT_*` code when no usable answer arrived (timeout, connection failure, a
 * response that is not Gossamer's). Branch on `code` or on the class; never on `message`.
 */

/** Base class of every client error. */
export class GossamerClientError extends Error {
  /** `GOSSAMER_ERR_*` from the server, or `GOSSAMER_CLIENT_*` for client-side failures. */
  readonly code: string
  /** HTTP status of the response, or undefined when there was none. */
  readonly status: number | undefined

  constructor(options: { code: string; message: string; status?: number; cause?: unknown }) {
    super(options.message, { cause: options.cause })
    this.name = 'GossamerClientError'
    this.code = options.code
    this.status = options.status
  }
}

/** 404 `GOSSAMER_ERR_KEY_NOT_FOUND`: the key has no live value. */
export class NotFoundError extends GossamerClientError {
  constructor(options: { code: string; message: string; status?: number }) {
    super(options)
    this.name = 'NotFoundError'
  }
}

/** 412 `GOSSAMER_ERR_PRECONDITION_FAILED`: `ifMatch` / `ifNoneMatch` did not hold. */
export class PreconditionFailedError extends GossamerClientError {
  constructor(options: { code: string; message: string; status?: number }) {
    super(options)
    this.name = 'PreconditionFailedError'
  }
}

/** 400 / 404-route / 405 / 415: the request itself was wrong (bad key, ttl, cursor, ...). */
export class InvalidRequestError extends GossamerClientError {
  constructor(options: { code: string; message: string; status?: number }) {
    super(options)
    this.name = 'InvalidRequestError'
  }
}

/** 413: the key or value exceeds the server's limits. */
export class PayloadTooLargeError extends GossamerClientError {
  constructor(options: { code: string; message: string; status?: number }) {
    super(options)
    this.name = 'PayloadTooLargeError'
  }
}

/** 503 `GOSSAMER_ERR_NOT_READY` (or another 503): try again later or another node. */
export class UnavailableError extends GossamerClientError {
  constructor(options: { code: string; message: string; status?: number }) {
    super(options)
    this.name = 'UnavailableError'
  }
}

/** Any other 5xx: a server-side failure. */
export class ServerError extends GossamerClientError {
  constructor(options: { code: string; message: string; status?: number }) {
    super(options)
    this.name = 'ServerError'
  }
}

/** `GOSSAMER_CLIENT_TIMEOUT`: no response within `timeoutMs`. */
export class TimeoutError extends GossamerClientError {
  constructor(options: { message: string; cause?: unknown }) {
    super({ code: 'GOSSAMER_CLIENT_TIMEOUT', ...options })
    this.name = 'TimeoutError'
  }
}

/** `GOSSAMER_CLIENT_CONNECTION`: the server could not be reached. */
export class ConnectionError extends GossamerClientError {
  constructor(options: { message: string; cause?: unknown }) {
    super({ code: 'GOSSAMER_CLIENT_CONNECTION', ...options })
    this.name = 'ConnectionError'
  }
}

/** `GOSSAMER_CLIENT_BAD_RESPONSE`: the response was not what a Gossamer server sends. */
export class BadResponseError extends GossamerClientError {
  constructor(options: { message: string; status?: number; cause?: unknown }) {
    super({ code: 'GOSSAMER_CLIENT_BAD_RESPONSE', ...options })
    this.name = 'BadResponseError'
  }
}

/** The error class for a server error response with `status` and `code`. */
export function errorFromResponse(options: {
  status: number
  code: string
  message: string
}): GossamerClientError {
  const { status, code } = options
  if (code === 'GOSSAMER_ERR_KEY_NOT_FOUND') return new NotFoundError(options)
  if (status === 412) return new PreconditionFailedError(options)
  if (status === 413) return new PayloadTooLargeError(options)
  if (status === 503) return new UnavailableError(options)
  if (status >= 500) return new ServerError(options)
  if (status >= 400) return new InvalidRequestError(options)
  return new BadResponseError({ message: options.message, status })
}
