import {useCallback, useEffect, useRef, useState} from 'react'
import {ApiUnreachableError, errorMessage} from './api'
import {readJson, writeJson} from './storage'
import {reportTelemetry} from './telemetry'

/**
 * Data a page shows: pm's answer when it comes; when pm does not answer, the last good answer
 * for the same request (localStorage), else the sample data bundled with the app. Each fallback
 * is reported as `fetch_failed` and `mock_fallback` telemetry (queued until pm answers).
 */
export type DataSource = 'live' | 'cache' | 'sample'

export interface LiveState<T> {
  data: T
  source: DataSource
  loading: boolean
  /** Why the data is not live (pm unreachable), or pm's own refusal. */
  error?: string
  /** pm answered, and refused the request (a 4xx): the data shown is not its answer to it. */
  refused: boolean
  /** When the shown data was fetched from pm (cache: when it was saved). */
  fetchedAt?: string
  reload(): void
  /** Shows data pm pushed (an SSE event) as live, and caches it. */
  push(data: T): void
}

interface CacheEntry<T> {
  savedAt: string
  data: T
}

export interface LiveOptions<T> {
  /** The page, for telemetry (`projects`, `timesheets`, …). */
  page: string
  /** The endpoint as the page asks it (path and query), for telemetry. */
  endpoint: string
  /** What identifies the answer in the cache; the endpoint unless the request has a body (GraphQL). */
  cacheKey?: string
  load(signal: AbortSignal): Promise<T>
  sample: T | (() => T)
  /** Re-fetch every so many ms (0: never). */
  pollMs?: number
  /** Called with every live answer (fetched or pushed). */
  onLive?(data: T): void
}

export const cachePrefix = 'poc-ui-cache-v1:'

/** While a page shows a fallback it asks pm again this often, and turns live when pm is back. */
export const offlineRetryMs = 5000

interface Shown<T> {
  data: T
  source: DataSource
  error?: string
  refused?: boolean
  fetchedAt?: string
  /** The request this is the outcome of; loading while it is not the current one. */
  settled?: string
}

export function useLiveData<T>(options: LiveOptions<T>): LiveState<T> {
  const {page, endpoint, pollMs = 0} = options
  const cacheKey = cachePrefix + (options.cacheKey ?? endpoint)
  const latest = useRef(options)
  useEffect(() => {
    latest.current = options
  })
  const [generation, setGeneration] = useState(0)
  const request = `${cacheKey}#${generation}`
  const [shown, setShown] = useState<Shown<T>>(() => {
    const cached = readJson<CacheEntry<T>>(cacheKey)
    return cached
      ? {data: cached.data, source: 'cache', fetchedAt: cached.savedAt}
      : {data: resolveSample(options.sample), source: 'sample'}
  })
  const reload = useCallback(() => setGeneration((g) => g + 1), [])
  const push = useCallback(
    (data: T) => {
      const savedAt = new Date().toISOString()
      writeJson(cacheKey, {savedAt, data} satisfies CacheEntry<T>)
      setShown((current) => ({data, source: 'live', fetchedAt: savedAt, settled: current.settled}))
      latest.current.onLive?.(data)
    },
    [cacheKey],
  )

  useEffect(() => {
    const controller = new AbortController()
    latest.current
      .load(controller.signal)
      .then((data) => {
        const savedAt = new Date().toISOString()
        writeJson(cacheKey, {savedAt, data} satisfies CacheEntry<T>)
        setShown({data, source: 'live', fetchedAt: savedAt, settled: request})
        latest.current.onLive?.(data)
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return
        if (!(error instanceof ApiUnreachableError)) {
          setShown((current) => ({...current, error: errorMessage(error), refused: true, settled: request}))
          return
        }
        const cached = readJson<CacheEntry<T>>(cacheKey)
        const source: DataSource = cached ? 'cache' : 'sample'
        const detail = {page, endpoint, reason: error.reason}
        reportTelemetry('fetch_failed', {...detail, message: error.message}, 'warn')
        reportTelemetry('mock_fallback', {...detail, source}, 'warn')
        setShown({
          data: cached ? cached.data : resolveSample(latest.current.sample),
          source,
          error: error.message,
          settled: request,
          ...(cached ? {fetchedAt: cached.savedAt} : {}),
        })
      })
    return () => controller.abort()
  }, [page, endpoint, cacheKey, request])

  useEffect(() => {
    if (!pollMs) return
    const id = setInterval(reload, pollMs)
    return () => clearInterval(id)
  }, [pollMs, reload])

  // pm unreachable: try again, so the page recovers without a reload (repeated fallbacks are
  // counted in the one queued telemetry event, not sent again).
  const offline = shown.settled === request && shown.source !== 'live' && !shown.refused
  useEffect(() => {
    if (!offline || (pollMs > 0 && pollMs <= offlineRetryMs)) return
    const id = setTimeout(reload, offlineRetryMs)
    return () => clearTimeout(id)
  }, [offline, pollMs, reload])

  return {
    data: shown.data,
    source: shown.source,
    loading: shown.settled !== request,
    refused: shown.refused === true && shown.settled === request,
    ...(shown.error === undefined ? {} : {error: shown.error}),
    ...(shown.fetchedAt === undefined ? {} : {fetchedAt: shown.fetchedAt}),
    reload,
    push,
  }
}

function resolveSample<T>(sample: T | (() => T)): T {
  return typeof sample === 'function' ? (sample as () => T)() : sample
}
