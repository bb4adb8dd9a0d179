import {useMemo, useState, type FormEvent} from 'react'
import {Link, useSearchParams} from 'react-router'
import {ApiStatus} from '../components/ApiStatus'
import {Notice} from '../components/Notice'
import {StatusFilter} from '../components/StatusFilter'
import {failureText} from '../lib/api'
import {capabilities} from '../lib/capabilities'
import {initialFilters, persistFilters} from '../lib/filters'
import {formatDateTime} from '../lib/format'
import {useLiveData} from '../lib/live'
import {
  createTimesheet,
  fetchTimesheets,
  restTimesheetsPath,
  timesheetAction,
  type NewTimesheet,
  type TimesheetFilters,
  type TimesheetList,
} from '../features/timesheets/api'
import {
  actionLabel,
  availableActions,
  sampleTimesheets,
  statusLabel,
  type Timesheet,
  type TimesheetAction,
  type TimesheetStatus,
} from '../features/timesheets/types'

const storageKey = 'timesheets-filters-v1'
const defaults: TimesheetFilters = {status: 'submitted', keyword: '', userName: '', projectCode: ''}
const statusOptions = [
  {value: 'all', label: 'All'},
  {value: 'submitted', label: 'Submitted'},
  {value: 'rejected', label: 'Rejected'},
  {value: 'approved', label: 'Approved'},
  {value: 'draft', label: 'Draft'},
] as const
const reasonCodes = [
  {value: 'detail_missing', label: '作業内容が不足'},
  {value: 'hours_exceed', label: '工数上限超過'},
  {value: 'other', label: 'その他'},
]

function today(): string {
  return new Date().toISOString().slice(0, 10)
}

function emptyForm(): NewTimesheet {
  return {
    userName: '',
    projectCode: '',
    projectName: '',
    workDate: today(),
    hours: 8,
    status: 'submitted',
    note: '',
  }
}

function matches(entry: Timesheet, filters: TimesheetFilters): boolean {
  if (filters.status !== 'all' && entry.approvalStatus !== filters.status) return false
  const keyword = filters.keyword.trim().toLowerCase()
  if (
    keyword &&
    !`${entry.projectName} ${entry.projectCode} ${entry.userName} ${entry.note ?? ''}`
      .toLowerCase()
      .includes(keyword)
  )
    return false
  const member = filters.userName.trim().toLowerCase()
  if (member && !entry.userName.toLowerCase().includes(member)) return false
  const project = filters.projectCode.trim().toLowerCase()
  if (project && entry.projectCode.toLowerCase() !== project) return false
  return true
}

function sampleList(): TimesheetList {
  return {
    items: sampleTimesheets,
    total: sampleTimesheets.length,
    returned: sampleTimesheets.length,
    fetchedAt: new Date().toISOString(),
  }
}

interface RejectDialog {
  entry: Timesheet
  action: TimesheetAction
  comment: string
  reasonCode: string
}

export function TimesheetsPage() {
  const [search, setSearch] = useSearchParams()
  const [applied, setApplied] = useState<TimesheetFilters>(() => initialFilters(storageKey, defaults, search))
  const [draft, setDraft] = useState<TimesheetFilters>(applied)
  const [overrides, setOverrides] = useState<Record<string, Timesheet>>({})
  const [created, setCreated] = useState<Timesheet[]>([])
  const [form, setForm] = useState<NewTimesheet>(emptyForm)
  const [creating, setCreating] = useState(false)
  const [createNotice, setCreateNotice] = useState<{kind: 'ok' | 'error'; text: string} | null>(null)
  const [notice, setNotice] = useState<{kind: 'ok' | 'error'; text: string} | null>(null)
  const [pendingId, setPendingId] = useState<string | null>(null)
  const [dialog, setDialog] = useState<RejectDialog | null>(null)

  const live = useLiveData<TimesheetList>({
    page: 'timesheets',
    endpoint: restTimesheetsPath(applied),
    load: (signal) => fetchTimesheets(applied, signal),
    sample: sampleList,
    onLive: () => {
      setOverrides({})
      setCreated([])
    },
  })

  const rows = useMemo(() => {
    const seen = new Set<string>()
    return [...created, ...live.data.items]
      .filter((t) => (seen.has(t.id) ? false : (seen.add(t.id), true)))
      .map((t) => overrides[t.id] ?? t)
      .filter((t) => matches(t, applied))
  }, [created, live.data.items, overrides, applied])

  const apply = (next: TimesheetFilters) => {
    setApplied(next)
    setDraft(next)
    setSearch(persistFilters(storageKey, next, defaults), {replace: true})
  }

  const onSearch = (event: FormEvent) => {
    event.preventDefault()
    apply({
      ...draft,
      keyword: draft.keyword.trim(),
      userName: draft.userName.trim(),
      projectCode: draft.projectCode.trim(),
    })
  }

  const create = async (viaGraphql: boolean) => {
    if (!form.userName.trim() || !form.projectCode.trim()) {
      setCreateNotice({kind: 'error', text: 'メンバー名とプロジェクトコードを入力してください'})
      return
    }
    setCreating(true)
    setCreateNotice(null)
    try {
      const graphql = viaGraphql && (await capabilities()).graphql
      const answer = await createTimesheet({...form, userName: form.userName.trim()}, graphql)
      setCreated((previous) => [answer.timesheet, ...previous])
      setForm(emptyForm())
      const suffix =
        answer.via === 'rest'
          ? viaGraphql
            ? ' (pm に GraphQL がないため REST API で追加)'
            : ' (REST API)'
          : ''
      setCreateNotice({
        kind: 'ok',
        text: `タイムシートを追加しました${answer.message ? ` (pm: ${answer.message})` : ''}${suffix}: ${answer.timesheet.id}`,
      })
    } catch (error) {
      setCreateNotice({kind: 'error', text: failureText('タイムシート追加に失敗しました', error)})
    } finally {
      setCreating(false)
    }
  }

  const perform = async (
    entry: Timesheet,
    action: TimesheetAction,
    input: {comment?: string; reasonCode?: string} = {},
  ) => {
    setPendingId(entry.id)
    setNotice(null)
    try {
      const {timesheet, eventId} = await timesheetAction(entry, action, input, (await capabilities()).graphql)
      setOverrides((previous) => ({...previous, [entry.id]: timesheet}))
      setNotice({
        kind: 'ok',
        text: `${entry.userName} / ${entry.projectCode}: ${actionLabel[action]} 完了${eventId ? ` (event ${eventId})` : ''}`,
      })
    } catch (error) {
      setNotice({kind: 'error', text: failureText(`${actionLabel[action]} に失敗しました`, error)})
    } finally {
      setPendingId(null)
    }
  }

  const onAction = (entry: Timesheet, action: TimesheetAction) => {
    if (action === 'reject' || action === 'resubmit') {
      setDialog({
        entry,
        action,
        comment: entry.note ?? '',
        reasonCode: action === 'reject' ? 'detail_missing' : '',
      })
      return
    }
    void perform(entry, action)
  }

  const statusText = statusOptions.find((o) => o.value === applied.status)?.label ?? applied.status
  const summary = [
    `状態=${statusText}`,
    `キーワード=${applied.keyword ? `"${applied.keyword}"` : '指定なし'}`,
    `メンバー=${applied.userName || '指定なし'}`,
    `プロジェクト=${applied.projectCode || '指定なし'}`,
  ].join(' / ')

  return (
    <div className="stack">
      <section className="card">
        <div className="spread">
          <div>
            <h2>Timesheets PoC</h2>
            <p className="muted">
              工数の登録・提出・承認・差戻し（承認で pm.timesheet.approved が発行されます）。
            </p>
          </div>
          <ApiStatus live={live} />
        </div>
      </section>

      <section className="card">
        <h3>タイムシート追加</h3>
        <form
          className="grid grid-3"
          data-testid="timesheets-create-form"
          onSubmit={(event) => {
            event.preventDefault()
            void create(false)
          }}
        >
          <label>
            <span>メンバー *</span>
            <input
              value={form.userName}
              required
              onChange={(e) => setForm({...form, userName: e.target.value})}
              data-testid="timesheets-create-member"
            />
          </label>
          <label>
            <span>プロジェクトコード *</span>
            <input
              value={form.projectCode}
              required
              onChange={(e) => setForm({...form, projectCode: e.target.value})}
              data-testid="timesheets-create-project"
            />
          </label>
          <label>
            <span>プロジェクト名</span>
            <input
              value={form.projectName}
              onChange={(e) => setForm({...form, projectName: e.target.value})}
            />
          </label>
          <label>
            <span>日付</span>
            <input
              type="date"
              value={form.workDate}
              onChange={(e) => setForm({...form, workDate: e.target.value})}
            />
          </label>
          <label>
            <span>工数 (h)</span>
            <input
              type="number"
              step="0.5"
              min="0.5"
              max="24"
              value={form.hours}
              onChange={(e) => setForm({...form, hours: Number(e.target.value)})}
              data-testid="timesheets-create-hours"
            />
          </label>
          <label>
            <span>ステータス</span>
            <select
              value={form.status}
              onChange={(e) => setForm({...form, status: e.target.value as NewTimesheet['status']})}
            >
              <option value="submitted">submitted</option>
              <option value="draft">draft</option>
            </select>
          </label>
          <label>
            <span>メモ</span>
            <textarea rows={2} value={form.note} onChange={(e) => setForm({...form, note: e.target.value})} />
          </label>
          <div className="row">
            <button
              type="submit"
              className="primary"
              disabled={creating}
              data-testid="timesheets-create-submit"
            >
              {creating ? '送信中...' : '追加'}
            </button>
            <button type="button" disabled={creating} onClick={() => void create(true)}>
              GraphQLで追加
            </button>
          </div>
        </form>
        {createNotice ? (
          <Notice kind={createNotice.kind} testId="timesheets-create-message">
            {createNotice.text}
          </Notice>
        ) : null}
      </section>

      <StatusFilter
        testId="timesheets-status-filter"
        options={statusOptions}
        value={applied.status as (typeof statusOptions)[number]['value']}
        onChange={(status) => apply({...applied, status})}
      />

      <form className="filters" onSubmit={onSearch}>
        <label>
          <span>キーワード</span>
          <input
            value={draft.keyword}
            onChange={(e) => setDraft({...draft, keyword: e.target.value})}
            placeholder="プロジェクト名・メモなど"
            data-testid="timesheets-search-input"
          />
        </label>
        <label>
          <span>メンバー名</span>
          <input
            value={draft.userName}
            onChange={(e) => setDraft({...draft, userName: e.target.value})}
            placeholder="例: 佐藤"
            data-testid="timesheets-filter-member"
          />
        </label>
        <label>
          <span>プロジェクトコード</span>
          <input
            value={draft.projectCode}
            onChange={(e) => setDraft({...draft, projectCode: e.target.value})}
            placeholder="例: DX-2025-01"
            data-testid="timesheets-filter-project"
          />
        </label>
        <button type="submit" className="primary" disabled={live.loading}>
          検索
        </button>
        <button type="button" onClick={() => apply({...defaults, status: applied.status})}>
          クリア
        </button>
      </form>

      <div className="row muted small">
        <span data-testid="timesheets-summary-count">
          表示件数: {rows.length} 件 ({live.data.returned} / {live.data.total} 件)
        </span>
        <span data-testid="timesheets-summary-filters">フィルタ: {summary}</span>
        <span>取得時刻: {formatDateTime(live.fetchedAt ?? live.data.fetchedAt)}</span>
        {live.loading ? <span>読み込み中...</span> : null}
      </div>
      {live.source !== 'live' && !live.loading ? (
        <Notice kind="warn" testId="timesheets-fallback">
          pm に接続できないため、{live.source === 'cache' ? '最後に取得したデータ' : 'サンプルデータ'}
          を表示しています。
          <button type="button" onClick={live.reload}>
            再試行
          </button>
        </Notice>
      ) : null}
      {notice ? (
        <Notice kind={notice.kind} testId="timesheets-action-message">
          {notice.text}
        </Notice>
      ) : null}

      <div className="card table-wrap">
        <table data-testid="timesheets-table">
          <thead>
            <tr>
              <th>日付</th>
              <th>メンバー</th>
              <th>プロジェクト</th>
              <th>工数</th>
              <th>状態</th>
              <th>メモ</th>
              <th>操作</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((entry) => (
              <tr key={entry.id} data-testid="timesheet-row" data-timesheet-id={entry.id}>
                <td>{entry.workDate}</td>
                <td>
                  {entry.userName}
                  <div className="muted small">#{entry.id}</div>
                </td>
                <td>
                  {entry.projectName}
                  <div className="muted small">{entry.projectCode}</div>
                </td>
                <td>
                  {entry.hours.toFixed(1)}h
                  {entry.submittedAt ? (
                    <div className="muted small">提出: {formatDateTime(entry.submittedAt)}</div>
                  ) : null}
                </td>
                <td>
                  <span className={`status status-${entry.approvalStatus}`} data-testid="timesheet-status">
                    {statusLabel[entry.approvalStatus as TimesheetStatus]}
                  </span>
                </td>
                <td className="small">{entry.note ?? '—'}</td>
                <td>
                  <div className="row">
                    {availableActions[entry.approvalStatus].map((action) => (
                      <button
                        key={action}
                        type="button"
                        disabled={pendingId === entry.id}
                        onClick={() => onAction(entry, action)}
                        data-testid={`timesheet-action-${action}`}
                      >
                        {actionLabel[action]}
                      </button>
                    ))}
                    <Link
                      className="button"
                      to={`/telemetry?detail=${encodeURIComponent(entry.id)}`}
                      data-testid={`timesheet-telemetry-link-${entry.id}`}
                    >
                      Telemetry
                    </Link>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 ? <p className="muted">条件に一致するタイムシートはありません。</p> : null}
      </div>

      {dialog ? (
        <div className="dialog-backdrop">
          <form
            className="card dialog"
            role="dialog"
            aria-label={`${actionLabel[dialog.action]} ${dialog.entry.id}`}
            data-testid="timesheets-action-dialog"
            onSubmit={(event) => {
              event.preventDefault()
              const {entry, action, comment, reasonCode} = dialog
              setDialog(null)
              void perform(entry, action, {
                ...(comment.trim() ? {comment: comment.trim()} : {}),
                ...(reasonCode ? {reasonCode} : {}),
              })
            }}
          >
            <h3>
              {actionLabel[dialog.action]} — {dialog.entry.userName} / {dialog.entry.projectCode}
            </h3>
            <label>
              <span>コメント</span>
              <textarea
                rows={3}
                value={dialog.comment}
                placeholder="差戻し理由、承認メモなど"
                onChange={(e) => setDialog({...dialog, comment: e.target.value})}
              />
            </label>
            {dialog.action === 'reject' ? (
              <label>
                <span>理由コード</span>
                <select
                  value={dialog.reasonCode}
                  onChange={(e) => setDialog({...dialog, reasonCode: e.target.value})}
                >
                  {reasonCodes.map((r) => (
                    <option key={r.value} value={r.value}>
                      {r.label}
                    </option>
                  ))}
                </select>
              </label>
            ) : null}
            <div className="row">
              <button type="submit" className="primary" data-testid="timesheets-action-confirm">
                実行
              </button>
              <button type="button" onClick={() => setDialog(null)}>
                キャンセル
              </button>
            </div>
          </form>
        </div>
      ) : null}
    </div>
  )
}
