import {lazy, Suspense} from 'react'
import {NavLink, Route, Routes} from 'react-router'
import {NotFound} from './pages/NotFound'
import {Overview} from './pages/Overview'

// Each page is its own chunk: the overview loads only what it shows.
const ProjectsPage = lazy(async () => ({default: (await import('./pages/Projects')).ProjectsPage}))
const TimesheetsPage = lazy(async () => ({default: (await import('./pages/Timesheets')).TimesheetsPage}))
const ComplianceFeature = lazy(async () => ({
  default: (await import('./pages/Compliance')).ComplianceFeature,
}))
const TelemetryPage = lazy(async () => ({default: (await import('./pages/Telemetry')).TelemetryPage}))

const links = [
  {to: '/projects', label: 'Projects'},
  {to: '/timesheets', label: 'Timesheets'},
  {to: '/compliance', label: 'Compliance'},
  {to: '/telemetry', label: 'Telemetry'},
]

export function App() {
  return (
    <div className="shell">
      <header className="topbar">
        <div className="topbar-inner">
          <div>
            <NavLink to="/" className="brand">
              <h1>ITDO ERP3 UI PoC</h1>
            </NavLink>
            <p className="muted small">poc web UI · data from pm through this server (/api, /graphql)</p>
          </div>
          <nav aria-label="main">
            {links.map((link) => (
              <NavLink key={link.to} to={link.to}>
                {link.label}
              </NavLink>
            ))}
          </nav>
        </div>
      </header>
      <main>
        <Suspense fallback={<p className="muted">読み込み中...</p>}>
          <Routes>
            <Route path="/" element={<Overview />} />
            <Route path="/projects" element={<ProjectsPage />} />
            <Route path="/timesheets" element={<TimesheetsPage />} />
            <Route path="/compliance" element={<ComplianceFeature />} />
            <Route path="/telemetry" element={<TelemetryPage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
      <footer className="footer muted small">
        poc stack · pm behind the ui server · sample data when pm is down
      </footer>
    </div>
  )
}
