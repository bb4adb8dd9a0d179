import os from 'node:os'
import type {SmokeReport} from './types.js'

/**
 * JUnit XML for CI test reporters: one testsuite per run (a loop adds one per run), one
 * testcase per scenario, failures with their reason, skips with theirs.
 */
export function toJUnit(reports: SmokeReport[]): string {
  const all = reports.flatMap((r) => r.scenarios)
  const count = (status: string) => all.filter((s) => s.status === status).length
  const seconds = (ms: number) => (ms / 1000).toFixed(3)
  const suites = reports.map((report, i) => {
    const cases = report.scenarios.map((s) => {
      const name = `${s.number} ${s.id}: ${s.title}`
      const open = `    <testcase classname="poc.smoke" name="${xml(name)}" time="${seconds(s.durationMs)}"`
      if (s.status === 'passed') return `${open}/>`
      if (s.status === 'skipped')
        return `${open}>\n      <skipped message="${xml(s.reason ?? '')}"/>\n    </testcase>`
      const detail = s.evidence
        .slice(-10)
        .map((e) =>
          e.kind === 'note'
            ? `+${e.atMs}ms ${e.text}`
            : `+${e.atMs}ms ${e.method} ${e.url} → ${e.status ?? e.error} ${e.responseBody?.slice(0, 300) ?? ''}`,
        )
        .join('\n')
      return `${open}>\n      <failure message="${xml(s.reason ?? 'failed')}" type="ScenarioFailure">${xml(detail)}</failure>\n    </testcase>`
    })
    const failures = report.scenarios.filter((s) => s.status === 'failed').length
    const skipped = report.scenarios.filter((s) => s.status === 'skipped').length
    return [
      `  <testsuite name="poc smoke run ${i + 1}" tests="${report.scenarios.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(report.durationMs)}" timestamp="${report.startedAt}" hostname="${xml(os.hostname())}">`,
      ...cases,
      '  </testsuite>',
    ].join('\n')
  })
  const total = reports.reduce((sum, r) => sum + r.durationMs, 0)
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="poc smoke" tests="${all.length}" failures="${count('failed')}" errors="0" skipped="${count('skipped')}" time="${seconds(total)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n')
}

function xml(text: string): string {
  return (
    text
      // Characters XML 1.0 cannot carry at all.
      // eslint-disable-next-line no-control-regex
      .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
      .replaceAll('"', '&quot;')
  )
}
