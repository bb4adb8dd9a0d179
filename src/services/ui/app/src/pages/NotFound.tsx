import {Link, useLocation} from 'react-router'

export function NotFound() {
  const location = useLocation()
  return (
    <section className="card">
      <h2>Page not found</h2>
      <p className="muted">
        There is no page at <code>{location.pathname}</code>. <Link to="/">Back to the overview</Link>
      </p>
    </section>
  )
}
