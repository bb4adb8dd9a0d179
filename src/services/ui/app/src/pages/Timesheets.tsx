export function TimesheetsPage() {
  return (
    <section className="card">
      <h2>Timesheets PoC</h2>
      <p className="muted">Coming in the next commit.</p>
    </section>
  )
}
