export const invoiceStatuses = ['registered', 'pending', 'matched', 'flagged', 'archived', 'draft'] as const
export type InvoiceStatus = (typeof invoiceStatuses)[number]

export const statusLabel: Record<string, string> = {
  registered: '登録済み',
  pending: '処理待ち',
  matched: '照合済み',
  flagged: '要確認',
  archived: '保管済み',
  draft: '下書き',
}

export interface Attachment {
  id: string
  kind: string
  fileName: string
  mimeType: string
  sizeLabel: string
  previewNote?: string
  downloadUrl?: string
}

/** An invoice as the page shows it: the seed's field names. */
export interface Invoice {
  id: string
  invoiceNumber: string
  issueDate: string
  dueDate?: string
  counterpartyName: string
  counterpartyNumber?: string
  subject: string
  amountIncludingTax: number
  amountExcludingTax?: number
  currency: string
  status: string
  tags: string[]
  remarks?: string
  matchedPurchaseOrder?: string
  attachments: Attachment[]
  updatedAt?: string
}

export type SortKey = 'issueDate' | 'updatedAt' | 'amount'

export interface InvoicePage {
  items: Invoice[]
  total: number
  page: number
  pageSize: number
  totalPages: number
  sortBy: SortKey
  sortDir: 'asc' | 'desc'
  fetchedAt: string
}

/** pm's item: the seed's names, or today's (an invoice generated from a timesheet). */
export interface InvoiceWire {
  id?: string
  invoiceId?: string
  invoiceNumber?: string
  issueDate?: string
  dueDate?: string | null
  counterpartyName?: string
  counterpartyNumber?: string | null
  subject?: string
  amountIncludingTax?: number
  amountExcludingTax?: number | null
  amount?: number
  currency?: string
  status?: string
  tags?: string[] | null
  remarks?: string | null
  matchedPurchaseOrder?: string | null
  attachments?: Array<Partial<Attachment> & {storageKey?: string | null}> | null
  timesheetId?: string
  projectCode?: string
  createdAt?: string
  updatedAt?: string
}

export function toInvoice(wire: InvoiceWire): Invoice {
  const id = wire.id ?? wire.invoiceId ?? wire.invoiceNumber ?? '—'
  return {
    id,
    invoiceNumber: wire.invoiceNumber ?? wire.invoiceId ?? id,
    issueDate: wire.issueDate ?? (wire.createdAt ?? '').slice(0, 10),
    ...(wire.dueDate ? {dueDate: wire.dueDate} : {}),
    counterpartyName: wire.counterpartyName ?? wire.projectCode ?? '—',
    ...(wire.counterpartyNumber ? {counterpartyNumber: wire.counterpartyNumber} : {}),
    subject: wire.subject ?? (wire.timesheetId ? `Timesheet ${wire.timesheetId}` : id),
    amountIncludingTax: wire.amountIncludingTax ?? wire.amount ?? 0,
    ...(typeof wire.amountExcludingTax === 'number' ? {amountExcludingTax: wire.amountExcludingTax} : {}),
    currency: wire.currency ?? 'JPY',
    status: wire.status ?? 'registered',
    tags: (wire.tags ?? []).filter((t): t is string => typeof t === 'string'),
    ...(wire.remarks ? {remarks: wire.remarks} : {}),
    ...(wire.matchedPurchaseOrder ? {matchedPurchaseOrder: wire.matchedPurchaseOrder} : {}),
    attachments: (wire.attachments ?? []).map((a, index) => ({
      id: a.id ?? `${id}-${index}`,
      kind: a.kind ?? 'pdf',
      fileName: a.fileName ?? a.storageKey ?? `attachment-${index + 1}`,
      mimeType: a.mimeType ?? 'application/octet-stream',
      sizeLabel: a.sizeLabel ?? '',
      ...(a.previewNote ? {previewNote: a.previewNote} : {}),
      ...(a.downloadUrl ? {downloadUrl: a.downloadUrl} : {}),
    })),
    ...(wire.updatedAt ? {updatedAt: wire.updatedAt} : {}),
  }
}

/** The seed's sample invoices (ui-poc mock data), shown when pm does not answer. */
export const sampleInvoices: Invoice[] = [
  {
    id: 'inv-2024-0001',
    invoiceNumber: 'INV-2024-0001',
    issueDate: '2024-09-25',
    dueDate: '2024-10-10',
    counterpartyName: '株式会社ライトニング',
    counterpartyNumber: 'LGT-0098',
    subject: '9月度クラウド利用料',
    amountIncludingTax: 550000,
    amountExcludingTax: 500000,
    currency: 'JPY',
    status: 'matched',
    tags: ['AWS', 'サブスクリプション'],
    remarks: '自動仕訳済み / ログID#241001-22',
    matchedPurchaseOrder: 'PO-2024-222',
    attachments: [
      {
        id: 'att-001',
        kind: 'pdf',
        fileName: 'INV-2024-0001.pdf',
        mimeType: 'application/pdf',
        sizeLabel: '412KB',
        previewNote: 'PDF プレビューはモック表示です',
      },
      {
        id: 'att-002',
        kind: 'xml',
        fileName: 'INV-2024-0001.xml',
        mimeType: 'application/xml',
        sizeLabel: '36KB',
      },
    ],
    updatedAt: '2024-09-30T11:22:00+09:00',
  },
  {
    id: 'inv-2024-0002',
    invoiceNumber: 'INV-2024-0002',
    issueDate: '2024-09-28',
    dueDate: '2024-10-05',
    counterpartyName: '日本エネルギー販売株式会社',
    counterpartyNumber: 'JPS-1204',
    subject: '9月分電力使用料',
    amountIncludingTax: 118800,
    amountExcludingTax: 108000,
    currency: 'JPY',
    status: 'flagged',
    tags: ['電力', '固定費'],
    remarks: '単価変動あり。原本確認要',
    attachments: [
      {
        id: 'att-101',
        kind: 'pdf',
        fileName: 'INV-2024-0002.pdf',
        mimeType: 'application/pdf',
        sizeLabel: '256KB',
      },
      {
        id: 'att-102',
        kind: 'image',
        fileName: 'meter-reading.png',
        mimeType: 'image/png',
        sizeLabel: '1.2MB',
        previewNote: '検針票サンプル画像',
      },
    ],
    updatedAt: '2024-09-29T09:54:00+09:00',
  },
  {
    id: 'inv-2024-0003',
    invoiceNumber: 'INV-2024-0003',
    issueDate: '2024-08-31',
    dueDate: '2024-09-30',
    counterpartyName: 'Global Devices Ltd.',
    counterpartyNumber: 'GD-88',
    subject: 'Laptop refresh program',
    amountIncludingTax: 1650000,
    amountExcludingTax: 1500000,
    currency: 'JPY',
    status: 'registered',
    tags: ['ハードウェア調達', '英語請求書'],
    remarks: '為替差損考慮。入庫確認待ち',
    attachments: [
      {
        id: 'att-201',
        kind: 'pdf',
        fileName: 'INV-2024-0003.pdf',
        mimeType: 'application/pdf',
        sizeLabel: '692KB',
      },
    ],
    updatedAt: '2024-09-01T10:22:00+09:00',
  },
]
