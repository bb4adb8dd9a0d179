import type {DataSource} from '../lib/live'

const labels: Record<DataSource, string> = {
  live: 'API live',
  cache: 'API offline · cached data',
  sample: 'API offline · sample data',
}

/** Whether the page shows pm's answer, and if not, what it shows instead. */
export function ApiStatus({source, loading, error}: {source: DataSource; loading: boolean; error?: string}) {
  const label = loading && source !== 'live' ? 'API connecting…' : labels[source]
  return (
    <span
      className={`badge badge-${loading && source !== 'live' ? 'pending' : source}`}
      data-testid="api-status"
      data-source={source}
      title={error}
      role="status"
    >
      {label}
    </span>
  )
}
