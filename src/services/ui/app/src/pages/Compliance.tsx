export function ComplianceFeature() {
  return (
    <section className="card">
      <h2>Compliance PoC</h2>
      <p className="muted">Coming in the next commit.</p>
    </section>
  )
}
