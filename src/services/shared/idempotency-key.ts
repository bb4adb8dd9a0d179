import type {FastifyRequest} from 'fastify'
import {HttpError} from './http.js'

/** Longer keys are no one's retry token; they would only grow every outbox line and Redis key. */
export const maxIdempotencyKeyLength = 256

/**
 * The request's `Idempotency-Key` header, else an `idempotencyKey` field of its JSON body; 400
 * `invalid_idempotency_key` for one that is too long, has control characters, or is not a string.
 */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key']
  if (typeof header === 'string' && header.trim() !== '') return checked(header.trim())
  const body = request.body as {idempotencyKey?: unknown} | undefined
  return checkIdempotencyKey(body !== null && typeof body === 'object' ? body.idempotencyKey : undefined)
}

/** An `idempotencyKey` field (of a body, a GraphQL input): undefined when absent or empty, else checked. */
export function checkIdempotencyKey(field: unknown): string | undefined {
  if (field === undefined || field === '') return undefined
  if (typeof field !== 'string') throw invalid('idempotencyKey must be a string')
  return checked(field)
}

function checked(key: string): string {
  if (key.length > maxIdempotencyKeyLength) {
    throw invalid(
      `the idempotency key is ${key.length} characters long, more than ${maxIdempotencyKeyLength}`,
    )
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw invalid('the idempotency key has control characters')
  return key
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'invalid_idempotency_key', message, {field: 'Idempotency-Key'})
}
