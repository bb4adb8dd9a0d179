import {setTimeout as delay} from 'node:timers/promises'
import {errorMessage} from '../../stack/errors.js'
import {type Evidence, ScenarioFailure} from './types.js'

const bodyLimit = 2048
const evidenceLimit = 60
const requestTimeoutMs = 10_000
const firstPollMs = 50
const maxPollMs = 1000

export interface HttpAnswer {
  status: number
  text: string
  /** The parsed body, or undefined when it is not JSON. */
  json: any // eslint-disable-line @typescript-eslint/no-explicit-any
  durationMs: number
}

export interface RequestOptions {
  body?: unknown
  headers?: Record<string, string>
}

/**
 * What a scenario uses to talk to the stack: HTTP calls and polls that record themselves as
 * evidence, all bounded by the scenario's deadline.
 */
export class Probe {
  readonly evidence: Evidence[] = []
  private readonly began = performance.now()

  constructor(
    private readonly signal: AbortSignal,
    /** Every answer of the run, newest last, for the artifacts' "last responses". */
    private readonly responses: Evidence[],
  ) {}

  note(text: string): void {
    this.evidence.push({atMs: this.elapsed(), kind: 'note', text})
  }

  /**
   * One request; a network error becomes a failure naming the URL. 4xx/5xx answers are
   * returned, so the scenario can say what it expected.
   */
  async http(method: string, url: string, options: RequestOptions = {}): Promise<HttpAnswer> {
    const record: Evidence = {atMs: this.elapsed(), kind: 'http', method, url, requestBody: options.body}
    this.evidence.push(record)
    // A long poll keeps its first and latest requests, not hundreds in between.
    if (this.evidence.length > evidenceLimit) this.evidence.splice(10, 1)
    this.responses.push(record)
    if (this.responses.length > 50) this.responses.shift()
    const started = performance.now()
    try {
      const response = await fetch(url, {
        method,
        headers: {
          ...(options.body === undefined ? {} : {'content-type': 'application/json'}),
          ...options.headers,
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(requestTimeoutMs)]),
      })
      const text = await response.text()
      record.status = response.status
      record.durationMs = round(performance.now() - started)
      record.responseBody = text.length > bodyLimit ? `${text.slice(0, bodyLimit)}…` : text
      let json: unknown
      try {
        json = text === '' ? undefined : JSON.parse(text)
      } catch {
        json = undefined
      }
      return {status: response.status, text, json, durationMs: record.durationMs}
    } catch (error) {
      record.durationMs = round(performance.now() - started)
      record.error = errorMessage(error)
      if (this.signal.aborted) throw this.signal.reason
      throw new ScenarioFailure(`${method} ${url} failed: ${record.error}`)
    }
  }

  /** A request that must answer `status`; otherwise the failure quotes the answer. */
  async expect(
    status: number,
    method: string,
    url: string,
    options: RequestOptions = {},
  ): Promise<HttpAnswer> {
    const answer = await this.http(method, url, options)
    if (answer.status !== status) {
      throw new ScenarioFailure(
        `${method} ${new URL(url).pathname} answered ${answer.status} (expected ${status}): ${answer.text.slice(0, 300)}`,
      )
    }
    return answer
  }

  /**
   * Polls until `attempt` returns a value, backing off from 50 ms to 1 s, until the scenario's
   * deadline; the failure says what was awaited and what was seen last.
   */
  async until<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
    let wait = firstPollMs
    let last = 'nothing yet'
    let tries = 0
    for (;;) {
      tries++
      try {
        const value = await attempt()
        if (value !== undefined) {
          this.note(`${what}: after ${tries} attempt(s), ${this.elapsed()} ms into the scenario`)
          return value
        }
      } catch (error) {
        if (this.signal.aborted) break
        last = errorMessage(error)
      }
      if (this.signal.aborted) break
      await delay(wait, undefined, {signal: this.signal}).catch(() => undefined)
      wait = Math.min(wait * 2, maxPollMs)
    }
    throw new ScenarioFailure(`timed out waiting for ${what} (${tries} attempts; last: ${last})`)
  }

  /** Records why a poll keeps going, so a timeout reports the last observation. */
  static pending(observation: string): never {
    throw new Error(observation)
  }

  elapsed(): number {
    return round(performance.now() - this.began)
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
