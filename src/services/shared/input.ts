import type {z} from 'zod'
import {HttpError} from './http.js'

function validationError(error: z.ZodError): HttpError {
  const issue = error.issues[0]
  const field = issue?.path.join('.') || 'body'
  return new HttpError(400, 'validation_failed', `${field}: ${issue?.message ?? 'invalid'}`, {field})
}

/** The largest amount of money any of our APIs takes: beyond it a double no longer counts cents. */
export const maxAmount = 1e13

/** Parse a request body or query, or answer 400 validation_failed naming the first bad field. */
export function parseInput<T extends z.ZodTypeAny>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input ?? {})
  if (!result.success) throw validationError(result.error)
  return result.data
}
