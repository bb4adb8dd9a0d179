import {useMemo, useState, type FormEvent} from 'react'
import {useSearchParams} from 'react-router'
import {ApiStatus} from '../components/ApiStatus'
import {Notice} from '../components/Notice'
import {StatusFilter} from '../components/StatusFilter'
import {errorMessage, failureText} from '../lib/api'
import {capabilities} from '../lib/capabilities'
import {formatDateTime} from '../lib/format'
import {initialFilters, persistFilters} from '../lib/filters'
import {useLiveData} from '../lib/live'
import {
  createProjectGraphql,
  createProjectRest,
  fetchProjects,
  restProjectsPath,
  transitionProject,
  type NewProject,
  type ProjectFilters,
} from '../features/projects/api'
import {
  actionLabel,
  sampleProjects,
  statusLabel,
  transitions,
  type Project,
  type ProjectAction,
  type ProjectPage,
} from '../features/projects/types'

const storageKey = 'projects-filters-v1'
const defaults: ProjectFilters = {status: 'all', keyword: '', manager: '', tag: '', health: ''}
const statusOptions = [
  {value: 'all', label: 'All'},
  {value: 'planned', label: 'Planned'},
  {value: 'active', label: 'Active'},
  {value: 'onhold', label: 'On Hold'},
  {value: 'closed', label: 'Closed'},
] as const
const emptyForm: NewProject = {
  name: '',
  code: '',
  clientName: '',
  manager: '',
  status: 'planned',
  health: 'green',
}

/** The seed's filters, applied here too: today's pm filters by status only. */
function matches(project: Project, filters: ProjectFilters): boolean {
  if (filters.status !== 'all' && project.status !== filters.status) return false
  const keyword = filters.keyword.trim().toLowerCase()
  if (
    keyword &&
    !`${project.name} ${project.code} ${project.clientName ?? ''}`.toLowerCase().includes(keyword)
  )
    return false
  const manager = filters.manager.trim().toLowerCase()
  if (manager && !(project.manager ?? '').toLowerCase().includes(manager)) return false
  const tag = filters.tag.trim().toLowerCase()
  if (tag && !project.tags.some((t) => t.toLowerCase() === tag)) return false
  if (filters.health && project.health !== filters.health) return false
  return true
}

function samplePage(): ProjectPage {
  return {
    items: sampleProjects,
    total: sampleProjects.length,
    returned: sampleProjects.length,
    fetchedAt: new Date().toISOString(),
    hasNextPage: false,
  }
}

export function ProjectsPage() {
  const [search, setSearch] = useSearchParams()
  const [applied, setApplied] = useState<ProjectFilters>(() => initialFilters(storageKey, defaults, search))
  const [draft, setDraft] = useState<ProjectFilters>(applied)
  const [more, setMore] = useState<{items: Project[]; endCursor?: string; hasNextPage: boolean} | null>(null)
  const [loadingMore, setLoadingMore] = useState(false)
  const [updates, setUpdates] = useState<Record<string, Project>>({})
  const [created, setCreated] = useState<Project[]>([])
  const [form, setForm] = useState<NewProject>(emptyForm)
  const [creating, setCreating] = useState(false)
  const [createNotice, setCreateNotice] = useState<{kind: 'ok' | 'error'; text: string} | null>(null)
  const [pending, setPending] = useState<string | null>(null)
  const [actionNotice, setActionNotice] = useState<{id: string; kind: 'ok' | 'error'; text: string} | null>(
    null,
  )

  const endpoint = restProjectsPath(applied)
  const live = useLiveData<ProjectPage>({
    page: 'projects',
    endpoint,
    load: (signal) => fetchProjects(applied, signal),
    sample: samplePage,
    onLive: () => {
      setMore(null)
      setCreated([])
      setUpdates({})
    },
  })

  const apply = (next: ProjectFilters) => {
    setApplied(next)
    setDraft(next)
    setSearch(persistFilters(storageKey, next, defaults), {replace: true})
  }

  const projects = useMemo(() => {
    const all = [...created, ...live.data.items, ...(more?.items ?? [])]
    const seen = new Set<string>()
    return all
      .filter((p) => (seen.has(p.id) ? false : (seen.add(p.id), true)))
      .map((p) => updates[p.id] ?? p)
      .filter((p) => matches(p, applied))
  }, [created, live.data.items, more, updates, applied])

  const hasNextPage = more ? more.hasNextPage : live.data.hasNextPage
  const endCursor = more ? more.endCursor : live.data.endCursor

  const loadMore = async () => {
    if (!endCursor) return
    setLoadingMore(true)
    try {
      const page = await fetchProjects(applied, AbortSignal.timeout(10_000), endCursor)
      setMore((previous) => ({
        items: [...(previous?.items ?? []), ...page.items],
        ...(page.endCursor ? {endCursor: page.endCursor} : {}),
        hasNextPage: page.hasNextPage,
      }))
    } catch (error) {
      setActionNotice({id: '', kind: 'error', text: `追加読み込みに失敗しました: ${errorMessage(error)}`})
    } finally {
      setLoadingMore(false)
    }
  }

  const create = async (viaGraphql: boolean) => {
    if (!form.name.trim()) {
      setCreateNotice({kind: 'error', text: 'プロジェクト名を入力してください'})
      return
    }
    setCreating(true)
    setCreateNotice(null)
    try {
      let project: Project
      let text = 'プロジェクトを追加しました'
      if (viaGraphql && (await capabilities()).graphql) {
        const answer = await createProjectGraphql(form)
        project = answer.project
        if (answer.message) text = `${text} (pm: ${answer.message})`
      } else {
        project = await createProjectRest(form)
        text = viaGraphql ? `${text} (pm に GraphQL がないため REST API で追加)` : `${text} (REST API)`
      }
      setCreated((previous) => [project, ...previous])
      setForm(emptyForm)
      setCreateNotice({kind: 'ok', text: `${text}: ${project.code}`})
    } catch (error) {
      setCreateNotice({kind: 'error', text: failureText('プロジェクト追加に失敗しました', error)})
    } finally {
      setCreating(false)
    }
  }

  const act = async (project: Project, action: ProjectAction) => {
    setPending(project.id)
    setActionNotice(null)
    try {
      const updated = await transitionProject(project, action, (await capabilities()).graphql)
      setUpdates((previous) => ({...previous, [project.id]: updated}))
      setActionNotice({id: project.id, kind: 'ok', text: `${actionLabel[action]} succeeded`})
    } catch (error) {
      setActionNotice({id: project.id, kind: 'error', text: failureText(`Failed to ${action}`, error)})
    } finally {
      setPending(null)
    }
  }

  const onSearch = (event: FormEvent) => {
    event.preventDefault()
    apply({...draft, keyword: draft.keyword.trim(), manager: draft.manager.trim(), tag: draft.tag.trim()})
  }

  return (
    <div className="stack">
      <section className="card">
        <div className="spread">
          <div>
            <h2>Projects PoC</h2>
            <p className="muted">
              プロジェクトの一覧・作成・ステータス遷移（pm の /api/v1/projects と /graphql）。
            </p>
          </div>
          <ApiStatus live={live} />
        </div>
      </section>

      <section className="card">
        <h3>プロジェクト追加</h3>
        <form
          className="grid grid-3"
          data-testid="projects-create-form"
          onSubmit={(event) => {
            event.preventDefault()
            void create(false)
          }}
        >
          <label>
            <span>プロジェクト名 *</span>
            <input
              value={form.name}
              required
              onChange={(e) => setForm({...form, name: e.target.value})}
              data-testid="projects-create-name"
            />
          </label>
          <label>
            <span>コード</span>
            <input
              value={form.code}
              onChange={(e) => setForm({...form, code: e.target.value})}
              data-testid="projects-create-code"
            />
          </label>
          <label>
            <span>クライアント</span>
            <input value={form.clientName} onChange={(e) => setForm({...form, clientName: e.target.value})} />
          </label>
          <label>
            <span>マネージャ</span>
            <input value={form.manager} onChange={(e) => setForm({...form, manager: e.target.value})} />
          </label>
          <label>
            <span>ステータス</span>
            <select value={form.status} onChange={(e) => setForm({...form, status: e.target.value})}>
              {statusOptions
                .filter((o) => o.value !== 'all' && o.value !== 'closed')
                .map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
            </select>
          </label>
          <label>
            <span>ヘルス</span>
            <select value={form.health} onChange={(e) => setForm({...form, health: e.target.value})}>
              <option value="green">green</option>
              <option value="yellow">yellow</option>
              <option value="red">red</option>
            </select>
          </label>
          <div className="row">
            <button
              type="submit"
              className="primary"
              disabled={creating}
              data-testid="projects-create-submit"
            >
              {creating ? '送信中...' : '追加'}
            </button>
            <button type="button" disabled={creating} onClick={() => void create(true)}>
              GraphQLで追加
            </button>
          </div>
        </form>
        {createNotice ? (
          <Notice kind={createNotice.kind} testId="projects-create-message">
            {createNotice.text}
          </Notice>
        ) : null}
      </section>

      <StatusFilter
        testId="projects-status-filter"
        options={statusOptions}
        value={applied.status as (typeof statusOptions)[number]['value']}
        onChange={(status) => apply({...applied, status})}
      />

      <form className="filters" onSubmit={onSearch}>
        <label>
          <span>キーワード検索</span>
          <input
            value={draft.keyword}
            onChange={(e) => setDraft({...draft, keyword: e.target.value})}
            placeholder="名前・コード・顧客名で検索"
            data-testid="projects-search-input"
          />
        </label>
        <label>
          <span>マネージャ</span>
          <input
            value={draft.manager}
            onChange={(e) => setDraft({...draft, manager: e.target.value})}
            placeholder="例: 山田"
            data-testid="projects-filter-manager"
          />
        </label>
        <label>
          <span>タグ</span>
          <input
            value={draft.tag}
            onChange={(e) => setDraft({...draft, tag: e.target.value})}
            placeholder="例: dx"
            data-testid="projects-filter-tag"
          />
        </label>
        <label>
          <span>ヘルス</span>
          <select
            value={draft.health}
            onChange={(e) => setDraft({...draft, health: e.target.value})}
            data-testid="projects-filter-health"
          >
            <option value="">指定なし</option>
            <option value="green">green</option>
            <option value="yellow">yellow</option>
            <option value="red">red</option>
          </select>
        </label>
        <button type="submit" className="primary" disabled={live.loading}>
          検索
        </button>
        <button type="button" onClick={() => apply({...defaults, status: applied.status})}>
          クリア
        </button>
      </form>

      <div className="row muted small" data-testid="projects-summary">
        <span>
          表示件数: {projects.length} / {live.data.total} 件
        </span>
        <span>今回取得: {live.data.returned} 件</span>
        <span>取得時刻: {formatDateTime(live.fetchedAt ?? live.data.fetchedAt)}</span>
        {live.loading ? <span>読み込み中...</span> : null}
        {live.error && live.source === 'live' ? <span className="notice-error">{live.error}</span> : null}
      </div>
      {live.source !== 'live' && !live.loading ? (
        <Notice kind="warn" testId="projects-fallback">
          pm に接続できないため、{live.source === 'cache' ? '最後に取得したデータ' : 'サンプルデータ'}
          を表示しています。
          <button type="button" onClick={live.reload}>
            再試行
          </button>
        </Notice>
      ) : null}
      {actionNotice && actionNotice.id === '' ? <Notice kind="error">{actionNotice.text}</Notice> : null}

      <div className="cards" data-testid="projects-list">
        {projects.length === 0 ? <p className="muted">条件に一致するプロジェクトはありません。</p> : null}
        {projects.map((project) => (
          <article key={project.id} className="card" data-testid="project-card" data-project-id={project.id}>
            <div className="spread">
              <div>
                <p className="muted small">
                  {project.code}
                  {project.clientName ? ` • ${project.clientName}` : ''}
                </p>
                <h3>{project.name}</h3>
              </div>
              <span className={`status status-${project.status}`} data-testid="project-status">
                {statusLabel[project.status]}
              </span>
            </div>
            <dl className="grid grid-2 small">
              <div>
                <dt className="muted">Start</dt>
                <dd>{project.startOn ?? '—'}</dd>
              </div>
              <div>
                <dt className="muted">End</dt>
                <dd>{project.endOn ?? '—'}</dd>
              </div>
              <div>
                <dt className="muted">Manager</dt>
                <dd>{project.manager ?? '未設定'}</dd>
              </div>
              <div>
                <dt className="muted">Health</dt>
                <dd>{project.health ?? '—'}</dd>
              </div>
            </dl>
            {project.tags.length > 0 ? (
              <div className="row small">
                {project.tags.map((tag) => (
                  <span key={tag} className="status">
                    {tag}
                  </span>
                ))}
              </div>
            ) : null}
            <div className="row">
              {transitions[project.status].length === 0 ? (
                <span className="muted small">No further actions</span>
              ) : (
                transitions[project.status].map((action) => (
                  <button
                    key={action}
                    type="button"
                    disabled={pending === project.id}
                    onClick={() => void act(project, action)}
                    data-testid={`project-action-${action}`}
                  >
                    {actionLabel[action]}
                  </button>
                ))
              )}
            </div>
            {actionNotice && actionNotice.id === project.id ? (
              <Notice kind={actionNotice.kind}>{actionNotice.text}</Notice>
            ) : null}
          </article>
        ))}
      </div>
      {hasNextPage ? (
        <button
          type="button"
          disabled={loadingMore}
          onClick={() => void loadMore()}
          data-testid="projects-load-more"
        >
          {loadingMore ? '追加読み込み中...' : 'さらに読み込む'}
        </button>
      ) : null}
    </div>
  )
}
