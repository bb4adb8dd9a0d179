export function ProjectsPage() {
  return (
    <section className="card">
      <h2>Projects PoC</h2>
      <p className="muted">Coming in the next commit.</p>
    </section>
  )
}
