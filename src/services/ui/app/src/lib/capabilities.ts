/**
 * What pm offers behind the ui, from the ui server's own /health (which always answers, so
 * asking it never fails while pm is down): whether pm is reachable and answers GraphQL.
 * Pages ask GraphQL first when it does, as the seed's UI does, and REST otherwise.
 */
export interface Capabilities {
  pmReachable: boolean
  graphql: boolean
}

const maxAgeMs = 30_000
let cached: {at: number; value: Promise<Capabilities>} | undefined

export function capabilities(): Promise<Capabilities> {
  if (cached && Date.now() - cached.at < maxAgeMs) return cached.value
  const value = fetch('/health', {cache: 'no-store', signal: AbortSignal.timeout(3000)})
    .then(async (response) => {
      const health = (await response.json()) as {pm?: {reachable?: boolean; graphql?: boolean}}
      return {pmReachable: health.pm?.reachable === true, graphql: health.pm?.graphql === true}
    })
    .catch(() => ({pmReachable: false, graphql: false}))
  cached = {at: Date.now(), value}
  return value
}

/** After pm came back or went away: ask again next time. */
export function forgetCapabilities(): void {
  cached = undefined
}
