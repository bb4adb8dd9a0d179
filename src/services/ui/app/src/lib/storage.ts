/** localStorage that never throws (private mode, quota, a value another version wrote). */
export function readJson<T>(key: string): T | undefined {
  try {
    const raw = window.localStorage.getItem(key)
    return raw === null ? undefined : (JSON.parse(raw) as T)
  } catch {
    return undefined
  }
}

export function writeJson(key: string, value: unknown): void {
  try {
    window.localStorage.setItem(key, JSON.stringify(value))
  } catch {
    // A full or disabled storage only costs the offline fallback its freshest copy.
  }
}

export function removeKey(key: string): void {
  try {
    window.localStorage.removeItem(key)
  } catch {
    // nothing to do
  }
}
