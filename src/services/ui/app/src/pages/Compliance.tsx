import {useState, type FormEvent} from 'react'
import {ApiStatus} from '../components/ApiStatus'
import {Notice} from '../components/Notice'
import {formatAmount, formatDateTime} from '../lib/format'
import {useLiveData} from '../lib/live'
import {fetchInvoices, restInvoicesPath, searchSample, type InvoiceQuery} from '../features/compliance/api'
import {statusLabel, type Attachment, type Invoice, type SortKey} from '../features/compliance/types'

const defaultQuery: InvoiceQuery = {
  keyword: '',
  status: 'all',
  startDate: '',
  endDate: '',
  minAmount: '',
  maxAmount: '',
  page: 1,
  pageSize: 10,
  sortBy: 'issueDate',
  sortDir: 'desc',
}
const sortKeys: Array<{value: SortKey; label: string}> = [
  {value: 'issueDate', label: '発行日'},
  {value: 'updatedAt', label: '更新日時'},
  {value: 'amount', label: '金額'},
]
const pageSizes = [10, 25, 50]
const statuses = ['all', 'registered', 'pending', 'matched', 'flagged', 'archived']

export function ComplianceFeature() {
  const [query, setQuery] = useState<InvoiceQuery>(defaultQuery)
  const [form, setForm] = useState(defaultQuery)
  const [selectedId, setSelectedId] = useState<string | null>(null)
  const [preview, setPreview] = useState<Attachment | null>(null)
  const [downloadError, setDownloadError] = useState<string | null>(null)

  const live = useLiveData({
    page: 'compliance',
    endpoint: restInvoicesPath(query),
    load: (signal) => fetchInvoices(query, signal),
    sample: () => searchSample(query),
  })
  const data = live.data
  const selected = data.items.find((i) => i.id === selectedId) ?? data.items[0]
  const change = (patch: Partial<InvoiceQuery>) => setQuery((current) => ({...current, ...patch}))

  const onSearch = (event: FormEvent) => {
    event.preventDefault()
    setQuery({
      ...form,
      keyword: form.keyword.trim(),
      page: 1,
      pageSize: query.pageSize,
      sortBy: query.sortBy,
      sortDir: query.sortDir,
    })
    live.reload()
  }

  const download = (attachment: Attachment) => {
    setDownloadError(null)
    if (!attachment.downloadUrl) {
      setDownloadError(
        'この添付ファイルにはダウンロード URL がありません（pm が MinIO なしで動いているか、サンプルデータです）。',
      )
      return
    }
    const opened = window.open(attachment.downloadUrl, '_blank', 'noopener,noreferrer')
    if (!opened) setDownloadError('ポップアップがブロックされました。ブラウザの設定を確認してください。')
  }

  const first = data.total === 0 ? 0 : (data.page - 1) * data.pageSize + 1
  const last = Math.min(data.page * data.pageSize, data.total)

  return (
    <div className="stack">
      <section className="card">
        <div className="spread">
          <div>
            <h2>Compliance PoC</h2>
            <p className="muted">
              電子取引（インボイス）の検索・並び替え・添付ファイル（pm の /api/v1/compliance/invoices）。
            </p>
          </div>
          <ApiStatus live={live} />
        </div>
      </section>

      <form className="card grid grid-3" onSubmit={onSearch} data-testid="compliance-search-form">
        <label>
          <span>フリーワード</span>
          <input
            value={form.keyword}
            placeholder="請求書番号 / 取引先 / タグ等"
            onChange={(e) => setForm({...form, keyword: e.target.value})}
            data-testid="compliance-search-input"
          />
        </label>
        <label>
          <span>請求書ステータス</span>
          <select value={form.status} onChange={(e) => setForm({...form, status: e.target.value})}>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s === 'all' ? 'すべて' : (statusLabel[s] ?? s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>発行日 (From)</span>
          <input
            type="date"
            value={form.startDate}
            onChange={(e) => setForm({...form, startDate: e.target.value})}
          />
        </label>
        <label>
          <span>発行日 (To)</span>
          <input
            type="date"
            value={form.endDate}
            onChange={(e) => setForm({...form, endDate: e.target.value})}
          />
        </label>
        <label>
          <span>金額 (Min)</span>
          <input
            inputMode="numeric"
            placeholder="100000"
            value={form.minAmount}
            onChange={(e) => setForm({...form, minAmount: e.target.value})}
          />
        </label>
        <label>
          <span>金額 (Max)</span>
          <input
            inputMode="numeric"
            placeholder="500000"
            value={form.maxAmount}
            onChange={(e) => setForm({...form, maxAmount: e.target.value})}
          />
        </label>
        <div className="row">
          <button type="submit" className="primary" disabled={live.loading}>
            {live.loading ? '検索中...' : '検索'}
          </button>
          <button
            type="button"
            onClick={() => {
              setForm(defaultQuery)
              setQuery({
                ...defaultQuery,
                pageSize: query.pageSize,
                sortBy: query.sortBy,
                sortDir: query.sortDir,
              })
            }}
          >
            条件クリア
          </button>
        </div>
      </form>

      <div className="filters">
        <label>
          <span>並び順 (項目)</span>
          <select value={query.sortBy} onChange={(e) => change({sortBy: e.target.value as SortKey, page: 1})}>
            {sortKeys.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>並び順 (方向)</span>
          <select
            value={query.sortDir}
            onChange={(e) => change({sortDir: e.target.value as 'asc' | 'desc', page: 1})}
          >
            <option value="desc">降順</option>
            <option value="asc">昇順</option>
          </select>
        </label>
        <label>
          <span>1ページ表示件数</span>
          <select
            value={query.pageSize}
            onChange={(e) => change({pageSize: Number(e.target.value), page: 1})}
          >
            {pageSizes.map((size) => (
              <option key={size} value={size}>
                {size} 件
              </option>
            ))}
          </select>
        </label>
      </div>

      {live.source !== 'live' && !live.loading ? (
        <Notice kind="warn" testId="compliance-fallback">
          APIの取得に失敗したため、モックデータを表示しています。
          {live.source === 'cache' ? '（最後に取得したデータ）' : ''}
          <button
            type="button"
            onClick={live.reload}
            data-testid="compliance-retry-live"
            disabled={live.loading}
          >
            ライブAPIを再試行
          </button>
        </Notice>
      ) : null}
      {live.error && live.source === 'live' ? <Notice kind="error">{live.error}</Notice> : null}

      <div className="spread muted small" data-testid="compliance-meta">
        <div className="row">
          <span>ヒット件数: {data.total} 件</span>
          <span>
            ページ {data.page} / {data.totalPages}
          </span>
          <span>取得時刻: {formatDateTime(live.fetchedAt ?? data.fetchedAt)}</span>
        </div>
        <div className="row" data-testid="compliance-pager">
          <button
            type="button"
            disabled={data.page <= 1 || live.loading}
            onClick={() => change({page: data.page - 1})}
          >
            前へ
          </button>
          <span>
            {first} - {last}
          </span>
          <button
            type="button"
            disabled={data.page >= data.totalPages || live.loading}
            onClick={() => change({page: data.page + 1})}
          >
            次へ
          </button>
        </div>
      </div>

      <div className="card table-wrap">
        <table data-testid="compliance-table">
          <thead>
            <tr>
              <th>発行日</th>
              <th>請求書番号</th>
              <th>取引先</th>
              <th>件名</th>
              <th>税込金額</th>
              <th>ステータス</th>
              <th>タグ</th>
            </tr>
          </thead>
          <tbody>
            {data.items.length === 0 ? (
              <tr>
                <td colSpan={7} className="muted">
                  条件に一致する請求書が見つかりませんでした。
                </td>
              </tr>
            ) : null}
            {data.items.map((invoice) => (
              <tr
                key={invoice.id}
                className={invoice.id === selected?.id ? 'selected' : undefined}
                onClick={() => setSelectedId(invoice.id)}
                data-testid="compliance-row"
                data-invoice-id={invoice.id}
              >
                <td>{invoice.issueDate}</td>
                <td>{invoice.invoiceNumber}</td>
                <td>{invoice.counterpartyName}</td>
                <td>{invoice.subject}</td>
                <td>{formatAmount(invoice.amountIncludingTax, invoice.currency)}</td>
                <td>
                  <span className={`status status-${invoice.status}`}>
                    {statusLabel[invoice.status] ?? invoice.status}
                  </span>
                </td>
                <td className="small">{invoice.tags.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {downloadError ? <Notice kind="error">{downloadError}</Notice> : null}
      {selected ? <InvoiceDetail invoice={selected} onPreview={setPreview} onDownload={download} /> : null}

      {preview ? (
        <div className="dialog-backdrop" onClick={() => setPreview(null)}>
          <div
            className="card dialog"
            role="dialog"
            aria-label={preview.fileName}
            onClick={(e) => e.stopPropagation()}
          >
            <h3>{preview.fileName}</h3>
            <p className="muted small">
              {preview.mimeType} ・ {preview.sizeLabel}
            </p>
            <p>プレビューは PoC 用の表示です。ファイルはダウンロードで開けます。</p>
            {preview.previewNote ? <p className="muted">{preview.previewNote}</p> : null}
            <button type="button" onClick={() => setPreview(null)}>
              閉じる
            </button>
          </div>
        </div>
      ) : null}
    </div>
  )
}

function InvoiceDetail({
  invoice,
  onPreview,
  onDownload,
}: {
  invoice: Invoice
  onPreview(attachment: Attachment): void
  onDownload(attachment: Attachment): void
}) {
  return (
    <section className="card grid grid-2" data-testid="compliance-detail">
      <div>
        <h3>{invoice.subject}</h3>
        <p className="muted small">
          {invoice.invoiceNumber} ・ 発行日 {invoice.issueDate} ・ 最終更新{' '}
          {formatDateTime(invoice.updatedAt)}
        </p>
        <dl className="grid grid-2 small">
          <div>
            <dt className="muted">取引先</dt>
            <dd>
              {invoice.counterpartyName}
              {invoice.counterpartyNumber ? (
                <span className="muted"> ({invoice.counterpartyNumber})</span>
              ) : null}
            </dd>
          </div>
          <div>
            <dt className="muted">金額 (税込)</dt>
            <dd>{formatAmount(invoice.amountIncludingTax, invoice.currency)}</dd>
          </div>
          <div>
            <dt className="muted">状態</dt>
            <dd>{statusLabel[invoice.status] ?? invoice.status}</dd>
          </div>
          <div>
            <dt className="muted">対応メモ</dt>
            <dd>{invoice.remarks ?? '—'}</dd>
          </div>
          {invoice.matchedPurchaseOrder ? (
            <div>
              <dt className="muted">ひも付く購買</dt>
              <dd>{invoice.matchedPurchaseOrder}</dd>
            </div>
          ) : null}
        </dl>
      </div>
      <aside>
        <h4>添付ファイル</h4>
        {invoice.attachments.length === 0 ? <p className="muted small">添付ファイルはありません。</p> : null}
        {invoice.attachments.map((attachment) => (
          <div className="stat" key={attachment.id} data-testid="compliance-attachment">
            <p>{attachment.fileName}</p>
            <p className="muted small">
              {attachment.mimeType} ・ {attachment.sizeLabel} ・ {attachment.kind}
            </p>
            <div className="row">
              <button type="button" onClick={() => onPreview(attachment)}>
                プレビュー
              </button>
              <button
                type="button"
                className={attachment.downloadUrl ? 'primary' : undefined}
                onClick={() => onDownload(attachment)}
                data-download-url={attachment.downloadUrl ?? ''}
              >
                ダウンロード
              </button>
            </div>
          </div>
        ))}
      </aside>
    </section>
  )
}
