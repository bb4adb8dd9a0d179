import type {DataSource, LiveState} from '../lib/live'

const labels: Record<DataSource, string> = {
  live: 'API live',
  cache: 'API offline · cached data',
  sample: 'API offline · sample data',
}

/**
 * Whether the page shows pm's answer, and if not, what it shows instead: the last good answer
 * (cached) or the bundled sample data. `data-source` is live|cache|sample for tests.
 */
export function ApiStatus({
  live,
}: {
  live: Pick<LiveState<unknown>, 'source' | 'loading' | 'error' | 'refused'>
}) {
  const {source, loading, error, refused} = live
  const pending = loading && source !== 'live'
  // pm answered but refused the request: it is up, and what is shown is not its answer.
  const label = pending
    ? 'API connecting…'
    : refused
      ? `API error · ${source === 'live' ? 'previous' : source} data`
      : labels[source]
  return (
    <span
      className={`badge badge-${pending ? 'pending' : refused ? 'sample' : source}`}
      data-testid="api-status"
      data-source={source}
      data-refused={refused ? 'true' : undefined}
      title={error}
      role="status"
    >
      {label}
    </span>
  )
}
