/**
 * Requests to pm through the ui server (same origin). A failure is either "pm is not
 * reachable" (no answer, or the ui's 503/504 upstream_* answer) — the pages then show cached
 * data — or an answer of pm's own (a 4xx with {error, message}), which the page shows as is.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** pm did not answer: the network failed, the request timed out, or the ui says pm is down. */
export class ApiUnreachableError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiUnreachableError'
  }
}

const upstreamCodes = new Set(['upstream_unavailable', 'upstream_timeout'])

type ReachabilityListener = (reachable: boolean) => void
const listeners = new Set<ReachabilityListener>()
let lastKnown: boolean | undefined

/** Whether pm answered the last request (undefined before the first). */
export function pmReachable(): boolean | undefined {
  return lastKnown
}

/** Called with true whenever pm answers, false when it does not (the telemetry queue flushes on true). */
export function onReachability(listener: ReachabilityListener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

function announce(reachable: boolean): void {
  lastKnown = reachable
  for (const listener of listeners) listener(reachable)
}

export interface RequestOptions {
  method?: string
  body?: unknown
  headers?: Record<string, string>
  signal?: AbortSignal
  timeoutMs?: number
}

export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const {method = 'GET', body, headers = {}, signal, timeoutMs = 8000} = options
  const timeout = AbortSignal.timeout(timeoutMs)
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
  let response: Response
  try {
    response = await fetch(path, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : {'content-type': 'application/json'}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: combined,
    })
  } catch (error) {
    if (signal?.aborted) throw error
    const reason = timeout.aborted ? 'timeout' : 'network_error'
    announce(false)
    throw new ApiUnreachableError(
      reason,
      `${method} ${path}: ${reason === 'timeout' ? `no answer within ${timeoutMs} ms` : 'the network request failed'}`,
    )
  }
  const text = await response.text()
  let parsed: unknown = undefined
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = text
    }
  }
  const payload = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    error?: string
    message?: string
  }
  if (!response.ok && upstreamCodes.has(payload.error ?? '')) {
    announce(false)
    throw new ApiUnreachableError(
      payload.error as string,
      payload.message ?? `pm is not reachable (${response.status})`,
    )
  }
  // pm answered, but with a failure of its own: no data to show either, so the page falls back too.
  if (response.status >= 500) {
    throw new ApiUnreachableError(
      payload.error ?? `http_${response.status}`,
      payload.message ?? `${method} ${path} answered ${response.status}`,
    )
  }
  announce(true)
  if (!response.ok) {
    throw new ApiError(
      response.status,
      payload.error ?? `http_${response.status}`,
      payload.message ?? `${method} ${path} answered ${response.status}`,
      parsed,
    )
  }
  return parsed as T
}

export interface GraphqlAnswer<T> {
  data?: T
  errors?: Array<{message: string}>
}

/** A GraphQL request to pm's /graphql; errors in the answer become an ApiError. */
export async function graphqlRequest<T>(
  query: string,
  variables: Record<string, unknown> = {},
  options: RequestOptions = {},
): Promise<T> {
  const answer = await apiRequest<GraphqlAnswer<T>>('/graphql', {
    ...options,
    method: 'POST',
    body: {query, variables},
  })
  if (answer.errors && answer.errors.length > 0) {
    throw new ApiError(200, 'graphql_error', answer.errors.map((e) => e.message).join('; '), answer)
  }
  if (!answer.data) throw new ApiError(200, 'graphql_error', 'the GraphQL answer has no data', answer)
  return answer.data
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A failed action as the page says it: pm unreachable, or pm's own message. */
export function failureText(prefix: string, error: unknown): string {
  if (error instanceof ApiUnreachableError) return `${prefix}: pm に接続できません (${error.message})`
  return `${prefix}: ${errorMessage(error)}`
}
