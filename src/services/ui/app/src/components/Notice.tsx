export type NoticeKind = 'ok' | 'error' | 'warn'

export function Notice({
  kind,
  children,
  testId,
}: {
  kind: NoticeKind
  children: React.ReactNode
  testId?: string
}) {
  return (
    <div
      className={`notice notice-${kind}`}
      role={kind === 'error' ? 'alert' : 'status'}
      data-testid={testId}
    >
      {children}
    </div>
  )
}
