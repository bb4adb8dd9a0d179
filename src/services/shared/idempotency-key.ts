import type {FastifyRequest} from 'fastify'

/** The request's `Idempotency-Key` header, else an `idempotencyKey` field of its JSON body. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key']
  if (typeof header === 'string' && header.trim() !== '') return header.trim()
  const body = request.body as {idempotencyKey?: unknown} | undefined
  return typeof body?.idempotencyKey === 'string' && body.idempotencyKey !== ''
    ? body.idempotencyKey
    : undefined
}
