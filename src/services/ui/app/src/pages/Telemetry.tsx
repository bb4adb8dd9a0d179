import {Fragment, useEffect, useState, type FormEvent} from 'react'
import {useSearchParams} from 'react-router'
import {ApiStatus} from '../components/ApiStatus'
import {apiRequest} from '../lib/api'
import {queryString} from '../lib/filters'
import {formatDateTime} from '../lib/format'
import {useLiveData} from '../lib/live'
import {relatedLinks} from '../features/telemetry/links'

interface TelemetryItem {
  component?: string
  event?: string
  level?: string
  origin?: string
  detail?: unknown
  timestamp?: string
  receivedAt?: string
}

interface TelemetryList {
  items: TelemetryItem[]
  total: number
}

interface Filters {
  component: string
  event: string
  detail: string
  detailPath: string
  level: string
  origin: string
  sort: string
  order: string
}

const defaults: Filters = {
  component: '',
  event: '',
  detail: '',
  detailPath: '',
  level: 'all',
  origin: 'all',
  sort: 'receivedAt',
  order: 'desc',
}
const maxRows = 100
const defaultPollMs = 15_000

const sample: TelemetryList = {
  items: [
    {
      component: 'ui',
      event: 'mock_fallback',
      level: 'warn',
      origin: 'client',
      detail: {page: 'telemetry', reason: 'sample data: pm has not answered yet'},
      receivedAt: '2025-09-01T00:00:00.000Z',
    },
  ],
  total: 1,
}

function fromSearch(search: URLSearchParams): Filters {
  return {
    component: search.get('component') ?? defaults.component,
    event: search.get('event') ?? defaults.event,
    detail: search.get('detail') ?? defaults.detail,
    detailPath: search.get('detail_path') ?? defaults.detailPath,
    level: search.get('level') ?? defaults.level,
    origin: search.get('origin') ?? defaults.origin,
    sort: search.get('sort') ?? defaults.sort,
    order: search.get('order') ?? defaults.order,
  }
}

/** pm's query names (SPEC §4.1): detail_path, and `all` as no filter. */
function apiQuery(filters: Filters): Record<string, string> {
  return {
    component: filters.component.trim(),
    event: filters.event.trim(),
    detail: filters.detail.trim(),
    detail_path: filters.detailPath.trim(),
    level: filters.level,
    origin: filters.origin,
    sort: filters.sort,
    order: filters.order,
  }
}

export function TelemetryPage() {
  const [search, setSearch] = useSearchParams()
  const applied = fromSearch(search)
  const [draft, setDraft] = useState<Filters>(applied)
  const [expanded, setExpanded] = useState<number | null>(null)
  const pollParam = Number(search.get('pollMs'))
  const pollMs = Number.isFinite(pollParam) && pollParam >= 200 ? pollParam : defaultPollMs
  const endpoint = `/api/v1/telemetry/ui${queryString({...apiQuery(applied), limit: maxRows})}`

  const live = useLiveData<TelemetryList>({
    page: 'telemetry',
    endpoint,
    load: async (signal) => {
      const answer = await apiRequest<{items?: TelemetryItem[]; total?: number}>(endpoint, {signal})
      const items = answer.items ?? []
      return {items, total: answer.total ?? items.length}
    },
    sample,
    pollMs,
  })

  const [nextIn, setNextIn] = useState(Math.round(pollMs / 1000))
  useEffect(() => {
    const started = Date.now()
    const id = setInterval(() => {
      const left = pollMs - ((Date.now() - started) % pollMs)
      setNextIn(Math.ceil(left / 1000))
    }, 1000)
    return () => clearInterval(id)
  }, [pollMs, live.fetchedAt])

  const apply = (event: FormEvent) => {
    event.preventDefault()
    const params = new URLSearchParams()
    const unset = apiQuery(defaults)
    for (const [key, value] of Object.entries(apiQuery(draft))) {
      if (value !== '' && value !== unset[key]) params.set(key, value)
    }
    if (search.has('pollMs')) params.set('pollMs', String(search.get('pollMs')))
    setSearch(params)
    live.reload()
  }

  return (
    <div className="stack">
      <section className="card">
        <div className="spread">
          <div>
            <h2>Telemetry Monitor</h2>
            <p className="muted">
              UI とサーバが pm に送った Telemetry イベント（<code>/api/v1/telemetry/ui</code>
              ）。フォールバックは <code>mock_fallback</code> として記録されます。
            </p>
          </div>
          <ApiStatus live={live} />
        </div>
      </section>

      <form className="card filters" onSubmit={apply} data-testid="telemetry-filters">
        <label>
          <span>Component</span>
          <input
            value={draft.component}
            placeholder="例: ui"
            onChange={(e) => setDraft({...draft, component: e.target.value})}
            data-testid="telemetry-filter-component"
          />
        </label>
        <label>
          <span>Event</span>
          <input
            value={draft.event}
            placeholder="例: mock_fallback"
            onChange={(e) => setDraft({...draft, event: e.target.value})}
            data-testid="telemetry-filter-event"
          />
        </label>
        <label>
          <span>Detail</span>
          <input
            value={draft.detail}
            placeholder="例: marker"
            onChange={(e) => setDraft({...draft, detail: e.target.value})}
            data-testid="telemetry-filter-detail"
          />
        </label>
        <label>
          <span>Detail Path (JSONPath)</span>
          <input
            value={draft.detailPath}
            placeholder="例: $.detail.marker または items[0].code"
            onChange={(e) => setDraft({...draft, detailPath: e.target.value})}
            data-testid="telemetry-filter-detail-path"
          />
        </label>
        <label>
          <span>Level</span>
          <select
            value={draft.level}
            onChange={(e) => setDraft({...draft, level: e.target.value})}
            data-testid="telemetry-filter-level"
          >
            <option value="all">All</option>
            <option value="info">info</option>
            <option value="warn">warn</option>
            <option value="error">error</option>
          </select>
        </label>
        <label>
          <span>Origin</span>
          <select
            value={draft.origin}
            onChange={(e) => setDraft({...draft, origin: e.target.value})}
            data-testid="telemetry-filter-origin"
          >
            <option value="all">All</option>
            <option value="client">client</option>
            <option value="server">server</option>
          </select>
        </label>
        <label>
          <span>Sort</span>
          <select
            value={draft.sort}
            onChange={(e) => setDraft({...draft, sort: e.target.value})}
            data-testid="telemetry-filter-sort"
          >
            <option value="receivedAt">Timestamp (cached)</option>
            <option value="timestamp">Raw Timestamp</option>
            <option value="component">Component</option>
            <option value="event">Event</option>
            <option value="level">Level</option>
            <option value="origin">Origin</option>
          </select>
        </label>
        <label>
          <span>Order</span>
          <select
            value={draft.order}
            onChange={(e) => setDraft({...draft, order: e.target.value})}
            data-testid="telemetry-filter-order"
          >
            <option value="desc">Desc</option>
            <option value="asc">Asc</option>
          </select>
        </label>
        <button type="submit" className="primary" data-testid="telemetry-filter-apply">
          適用
        </button>
        <button
          type="button"
          data-testid="telemetry-filter-reset"
          onClick={() => {
            setDraft(defaults)
            setSearch(search.has('pollMs') ? {pollMs: String(search.get('pollMs'))} : {})
          }}
        >
          リセット
        </button>
      </form>

      <div className="spread muted small">
        <span>
          取得件数: <strong data-testid="telemetry-total">{live.data.total}</strong>· 表示上限: {maxRows}
          件。自動更新まで残り <strong>{nextIn}s</strong>
        </span>
        <div className="row">
          {live.error ? <span className="notice-warn">{live.error}</span> : null}
          <button type="button" onClick={live.reload} disabled={live.loading} data-testid="telemetry-refresh">
            {live.loading ? '更新中...' : '今すぐ更新'}
          </button>
        </div>
      </div>

      <div className="card table-wrap" data-testid="telemetry-table">
        <table>
          <thead>
            <tr>
              <th>Timestamp</th>
              <th>Component</th>
              <th>Event</th>
              <th>Level</th>
              <th>Origin</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {live.data.items.length === 0 ? (
              <tr>
                <td colSpan={6} className="muted">
                  Telemetry イベントはまだありません。
                </td>
              </tr>
            ) : null}
            {live.data.items.map((item, index) => {
              const links = expanded === index ? relatedLinks(item.detail) : undefined
              return (
                <Fragment key={`${item.receivedAt ?? item.timestamp ?? ''}-${index}`}>
                  <tr
                    onClick={() => setExpanded(expanded === index ? null : index)}
                    className={expanded === index ? 'selected' : undefined}
                    data-testid="telemetry-row"
                  >
                    <td className="small">{formatDateTime(item.receivedAt ?? item.timestamp)}</td>
                    <td>{item.component ?? '—'}</td>
                    <td>{item.event ?? '—'}</td>
                    <td>
                      <span
                        className={`status status-${item.level === 'warn' ? 'onhold' : item.level === 'error' ? 'rejected' : 'active'}`}
                      >
                        {item.level ?? 'info'}
                      </span>
                    </td>
                    <td>{item.origin ?? '—'}</td>
                    <td>
                      <pre>{item.detail === undefined ? '—' : JSON.stringify(item.detail)}</pre>
                    </td>
                  </tr>
                  {links ? (
                    <tr data-testid="telemetry-row-links">
                      <td colSpan={6}>
                        <div className="row small">
                          {links.projects.map((href) => (
                            <a key={href} href={href} target="_blank" rel="noreferrer">
                              Projects 画面で開く
                            </a>
                          ))}
                          {links.slack.map((link) => (
                            <a key={link.href} href={link.href} target="_blank" rel="noreferrer">
                              {link.label} ↗
                            </a>
                          ))}
                          {links.projects.length + links.slack.length === 0 ? (
                            <span className="muted">関連リンクはありません。</span>
                          ) : null}
                        </div>
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              )
            })}
          </tbody>
        </table>
      </div>
    </div>
  )
}
