import {readJson, writeJson} from './storage'

type Filters<T> = {[K in keyof T]: string}

/**
 * A page's filters live in its URL (shareable, survive a reload) and in localStorage (a plain
 * visit to the page brings back the last ones), as in the seed's UI.
 */
export function initialFilters<T extends Filters<T>>(
  storageKey: string,
  defaults: T,
  search: URLSearchParams,
  queryNames: Partial<Record<keyof T, string>> = {},
): T {
  const keys = Object.keys(defaults) as Array<keyof T>
  const name = (key: keyof T) => queryNames[key] ?? String(key)
  const fromUrl = keys.some((key) => search.has(name(key)))
  const stored: Partial<Record<keyof T, unknown>> =
    readJson<Partial<Record<keyof T, unknown>>>(storageKey) ?? {}
  const result = {...defaults}
  for (const key of keys) {
    const value = fromUrl ? search.get(name(key)) : stored[key]
    if (typeof value === 'string') result[key] = value as T[keyof T]
  }
  return result
}

/** Stores the filters and answers the query string for them (defaults left out). */
export function persistFilters<T extends Filters<T>>(
  storageKey: string,
  filters: T,
  defaults: T,
  queryNames: Partial<Record<keyof T, string>> = {},
): URLSearchParams {
  writeJson(storageKey, filters)
  const params = new URLSearchParams()
  for (const key of Object.keys(filters) as Array<keyof T>) {
    const value: string = filters[key]
    if (value !== '' && value !== defaults[key]) params.set(queryNames[key] ?? String(key), value)
  }
  return params
}

/** A query string of the non-empty values (`all` is no filter). */
export function queryString(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '' && value !== 'all')
      params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

export function newIdempotencyKey(prefix: string): string {
  // randomUUID exists in secure contexts only (localhost is one; http://<lan-ip> is not).
  const random =
    typeof crypto.randomUUID === 'function'
      ? crypto.randomUUID()
      : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(
          '',
        )
  return `${prefix}-${random}`
}
