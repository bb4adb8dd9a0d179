import {errorMessage} from '../../stack/errors.js'

/** A server the check was told to use did not answer (exit 3, not a failed check). */
export class Unreachable extends Error {
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(message)
    this.name = 'Unreachable'
  }
}

export interface JsonAnswer {
  status: number
  json: unknown
  text: string
}

/** GET `url`; a connection failure or timeout is Unreachable, any HTTP answer is returned. */
export async function getJson(
  url: string,
  options: {headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal} = {},
): Promise<JsonAnswer> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000)
  let answer: Response
  try {
    answer = await fetch(url, {
      headers: {accept: 'application/json', ...options.headers},
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    })
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason
    const cause = (error as {cause?: unknown}).cause
    throw new Unreachable(url, `GET ${url}: ${errorMessage(cause ?? error)}`)
  }
  const text = await answer.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return {status: answer.status, json, text}
}
