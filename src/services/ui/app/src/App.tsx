import {NavLink, Route, Routes} from 'react-router'
import {ComplianceFeature} from './pages/Compliance'
import {NotFound} from './pages/NotFound'
import {Overview} from './pages/Overview'
import {ProjectsPage} from './pages/Projects'
import {TelemetryPage} from './pages/Telemetry'
import {TimesheetsPage} from './pages/Timesheets'

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
        <Routes>
          <Route path="/" element={<Overview />} />
          <Route path="/projects" element={<ProjectsPage />} />
          <Route path="/timesheets" element={<TimesheetsPage />} />
          <Route path="/compliance" element={<ComplianceFeature />} />
          <Route path="/telemetry" element={<TelemetryPage />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
      <footer className="footer muted small">
        poc stack · pm behind the ui server · sample data when pm is down
      </footer>
    </div>
  )
}
