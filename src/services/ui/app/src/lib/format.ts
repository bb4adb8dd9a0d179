const dateTime = new Intl.DateTimeFormat('ja-JP', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
})

export function formatDateTime(value: string | number | undefined | null): string {
  if (value === undefined || value === null || value === '') return '—'
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? String(value) : dateTime.format(date)
}

const yen = new Intl.NumberFormat('ja-JP', {style: 'currency', currency: 'JPY', maximumFractionDigits: 0})

export function formatAmount(value: number | undefined | null, currency = 'JPY'): string {
  if (value === undefined || value === null || Number.isNaN(value)) return '—'
  if (currency === 'JPY') return yen.format(value)
  return new Intl.NumberFormat('ja-JP', {style: 'currency', currency}).format(value)
}
