export function TelemetryPage() {
  return (
    <section className="card">
      <h2>Telemetry PoC</h2>
      <p className="muted">Coming in the next commit.</p>
    </section>
  )
}
