import {useEffect, useMemo, useRef, useState} from 'react'
import {apiRequest, onReachability} from '../../lib/api'
import {formatDateTime} from '../../lib/format'
import {useLiveData} from '../../lib/live'
import {ApiStatus} from '../../components/ApiStatus'
import {sampleSummary, type MetricsSummary} from './types'

const autoRefreshMs = 15_000
const historyLimit = 10
const order = {
  projects: ['planned', 'active', 'onhold', 'closed', 'cancelled'],
  timesheets: ['draft', 'submitted', 'approved', 'rejected'],
  invoices: ['draft', 'registered', 'pending', 'matched', 'flagged', 'archived'],
}

interface Snapshot {
  at: number
  events: number
}

/**
 * pm's /metrics/summary, then every /metrics/stream event (the default `message` event of the
 * seed's stream), with the last snapshots; `キャッシュ無効化` asks pm to recompute (?refresh=true).
 */
export function MetricsPanel() {
  const refreshNext = useRef(false)
  const [history, setHistory] = useState<Snapshot[]>([])
  const live = useLiveData<MetricsSummary>({
    page: 'overview',
    endpoint: '/metrics/summary',
    sample: sampleSummary,
    pollMs: autoRefreshMs,
    load: (signal) => {
      const refresh = refreshNext.current
      refreshNext.current = false
      return apiRequest<MetricsSummary>(refresh ? '/metrics/summary?refresh=true' : '/metrics/summary', {
        signal,
      })
    },
    onLive: (summary) =>
      setHistory((previous) => [...previous, {at: Date.now(), events: summary.events}].slice(-historyLimit)),
  })
  const {data: metrics, push} = live
  const [streaming, setStreaming] = useState(false)

  useEffect(() => {
    if (typeof EventSource === 'undefined') return
    let stream: EventSource | undefined
    let stopped = false
    const open = () => {
      if (stopped || stream) return
      const source = new EventSource('/metrics/stream')
      stream = source
      source.addEventListener('open', () => setStreaming(true))
      source.addEventListener('message', (event: MessageEvent<string>) => {
        try {
          push(JSON.parse(event.data) as MetricsSummary)
        } catch {
          // A malformed event is skipped; the next one (or the poll) brings the summary.
        }
      })
      source.addEventListener('error', () => {
        // A refused stream (pm down) does not retry by itself: reopen once pm answers again.
        if (source.readyState === 2) {
          setStreaming(false)
          stream = undefined
        }
      })
    }
    open()
    const unsubscribe = onReachability((reachable) => {
      if (reachable) open()
    })
    return () => {
      stopped = true
      unsubscribe()
      stream?.close()
    }
  }, [push])

  const groups = useMemo(
    () =>
      (['projects', 'timesheets', 'invoices'] as const).map((group) => ({
        title: group[0]!.toUpperCase() + group.slice(1),
        entries: sortEntries(metrics[group] ?? {}, order[group]),
      })),
    [metrics],
  )
  const maxEvents = Math.max(1, metrics.events, ...history.map((h) => h.events))
  const recent = history.slice(-5).reverse()

  return (
    <section className="card" data-testid="metrics-panel">
      <header className="card-header">
        <div>
          <h3>Podman Metrics Snapshot</h3>
          <p className="muted small">
            <code>/metrics/summary</code> と <code>/metrics/stream</code> (SSE) の内容を表示しています。
            {streaming ? ' SSE 接続中' : ''}
          </p>
        </div>
        <div className="row">
          <ApiStatus live={live} />
          <button
            type="button"
            data-testid="metrics-refresh"
            disabled={live.loading}
            onClick={() => {
              refreshNext.current = true
              live.reload()
            }}
          >
            キャッシュ無効化
          </button>
        </div>
      </header>
      <div className="grid grid-4" data-testid="metrics-summary">
        {groups.map((group) => (
          <div className="stat" key={group.title} data-testid={`metrics-${group.title.toLowerCase()}`}>
            <p className="stat-title">{group.title}</p>
            {group.entries.length === 0 ? <p className="muted">データなし</p> : null}
            {group.entries.map(([label, value]) => (
              <div className="stat-line" key={label}>
                <span className="muted">{label}</span>
                <strong data-testid={`metrics-${group.title.toLowerCase()}-${label}`}>{value}</strong>
              </div>
            ))}
          </div>
        ))}
        <div className="stat" data-testid="metrics-events">
          <p className="stat-title">Events</p>
          <p className="stat-big">{metrics.events}</p>
          <p className="muted small">
            snapshot: {formatDateTime(metrics.cachedAt)}
            {metrics.stale ? <span className="badge badge-cache">STALE</span> : null}
          </p>
          <p className="muted small">cache TTL: {Math.round(metrics.cacheTtlMs / 1000)}s</p>
        </div>
      </div>
      <div className="stat" data-testid="metrics-history">
        <p className="stat-title">Recent Snapshots</p>
        {recent.length === 0 ? (
          <p className="muted small">pm からのスナップショットはまだありません</p>
        ) : null}
        <ul className="history">
          {recent.map((entry, index) => (
            <li key={`${entry.at}-${index}`}>
              <span className="muted">{formatDateTime(entry.at)}</span>
              <span>
                Events <strong>{entry.events}</strong>
              </span>
              <span className="bar">
                <span style={{width: `${Math.min(100, (entry.events / maxEvents) * 100)}%`}} />
              </span>
            </li>
          ))}
        </ul>
      </div>
    </section>
  )
}

function sortEntries(record: Record<string, number>, known: string[]): Array<[string, number]> {
  const rank = (key: string) => {
    const index = known.indexOf(key)
    return index === -1 ? known.length : index
  }
  return Object.entries(record).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
}
