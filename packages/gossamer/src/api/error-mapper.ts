/**
 * Turns every failure — our own `GossamerError`s and Fastify's framework errors (bad JSON,
 * bodies too large, bad URLs, unknown routes) — into the one JSON error shape:
 * `{"error":{"code":"GOSSAMER_ERR_...","message":"..."}}`. This file is the only place that
 * chooses an HTTP status for an error.
 */
import {
  ERROR_CATALOGUE,
  GossamerError,
  type GossamerErrorCode,
  isGossamerError,
} from '../errors.ts'

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: GossamerErrorCode; readonly message: string }
}

/** The body for `error`. */
export function errorBody(error: GossamerError): ErrorBody {
  return { error: { code: error.code, message: error.message } }
}

/** Route-level override: which code a too-large body means on this route. */
export interface RouteErrorConfig {
  readonly bodyTooLargeCode?: 'GOSSAMER_ERR_VALUE_TOO_LARGE' | 'GOSSAMER_ERR_BODY_TOO_LARGE'
}

const FASTIFY_CODES: Readonly<Record<string, GossamerErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GOSSAMER_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GOSSAMER_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GOSSAMER_ERR_BODY_INVALID',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GOSSAMER_ERR_BODY_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'GOSSAMER_ERR_BODY_INVALID_JSON',
  FST_ERR_BAD_URL: 'GOSSAMER_ERR_URL_INVALID',
  FST_ERR_ASYNC_CONSTRAINT: 'GOSSAMER_ERR_URL_INVALID',
}

// Generic 4xx statuses that Fastify or Node may raise without a code we know.
const STATUS_CODES: Readonly<Record<number, GossamerErrorCode>> = {
  400: 'GOSSAMER_ERR_BODY_INVALID',
  404: 'GOSSAMER_ERR_ROUTE_NOT_FOUND',
  413: 'GOSSAMER_ERR_BODY_TOO_LARGE',
  415: 'GOSSAMER_ERR_UNSUPPORTED_MEDIA_TYPE',
}

/**
 * Maps any thrown value to a `GossamerError`. Unknown errors become `GOSSAMER_ERR_INTERNAL`
 * without leaking their message (it is logged instead).
 */
export function toGossamerError(error: unknown, route: RouteErrorConfig = {}): GossamerError {
  if (error instanceof GossamerError) return error
  if (isGossamerError(error)) return new GossamerError(error.code, error.message, { cause: error })
  const fastifyCode = (error as { code?: unknown } | null)?.code
  if (typeof fastifyCode === 'string' && Object.hasOwn(FASTIFY_CODES, fastifyCode)) {
    let code = FASTIFY_CODES[fastifyCode]!
    if (code === 'GOSSAMER_ERR_BODY_TOO_LARGE' && route.bodyTooLargeCode) {
      code = route.bodyTooLargeCode
    }
    return new GossamerError(code, messageOf(error, code), { cause: error })
  }
  const status = (error as { statusCode?: unknown } | null)?.statusCode
  if (typeof status === 'number' && Object.hasOwn(STATUS_CODES, status)) {
    const code = STATUS_CODES[status]!
    return new GossamerError(code, messageOf(error, code), { cause: error })
  }
  return new GossamerError('GOSSAMER_ERR_INTERNAL', 'internal server error', { cause: error })
}

function messageOf(error: unknown, code: GossamerErrorCode): string {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === 'string' && message.length > 0 ? message : ERROR_CATALOGUE[code].meaning
}

/** A raw HTTP/1.1 400 response for requests Node's parser rejects before Fastify sees them. */
export function rawBadRequestResponse(): string {
  const body = JSON.stringify(
    errorBody(new GossamerError('GOSSAMER_ERR_REQUEST_INVALID', 'malformed HTTP request')),
  )
  return (
    'HTTP/1.1 400 Bad Request\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    'Connection: close\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body
  )
}
