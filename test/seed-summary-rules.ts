/**
 * The rules of the seed's scripts/validate_smoke_summary.py (itdojp/ITDO_ERP3 at
 * e1c9f03595161f0c7793936885203eb41b794a6f), rewritten: what a last_summary.json must hold for
 * the seed's CI to take it. Answers the problems found, [] for a valid summary.
 */
type Kind = 'string' | 'number' | 'boolean' | 'object' | 'numeric-like'

const topLevel: Record<string, Kind> = {
  status: 'string',
  failure_reason: 'string',
  runs: 'number',
  attempt: 'number',
  fallback_used: 'boolean',
  telemetry: 'object',
}
const telemetry: Record<string, Kind> = {
  status: 'string',
  seeded_count: 'numeric-like',
  attempts: 'numeric-like',
}
const telemetryHealth: Record<string, Kind> = {
  status: 'string',
  message: 'string',
  events: 'object',
  fallback_active: 'boolean',
}
const events: Record<string, Kind> = {
  total: 'numeric-like',
  seeded: 'numeric-like',
  last_event_at: 'string',
  last_seeded_at: 'string',
}

function isKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
    case 'numeric-like':
      // Python's isinstance(x, (int, float, str)) and then float(x) for a string; bool is an int there.
      return (
        typeof value === 'number' ||
        typeof value === 'boolean' ||
        (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
      )
    case 'number':
      return typeof value === 'number' || typeof value === 'boolean'
    default:
      return typeof value === kind
  }
}

function check(mapping: Record<string, unknown>, rules: Record<string, Kind>, where: string): string[] {
  return Object.entries(rules).flatMap(([key, kind]) => {
    if (!(key in mapping)) return [`${where}: missing key ${key}`]
    return isKind(mapping[key], kind)
      ? []
      : [`${where}: ${key} is not ${kind}: ${JSON.stringify(mapping[key])}`]
  })
}

export function seedSummaryProblems(summary: unknown): string[] {
  if (!isKind(summary, 'object')) return ['the summary is not an object']
  const doc = summary as Record<string, unknown>
  const problems = check(doc, topLevel, 'summary')
  if (isKind(doc.telemetry, 'object'))
    problems.push(...check(doc.telemetry as Record<string, unknown>, telemetry, 'telemetry'))
  const health = doc.telemetry_health
  if (health !== undefined) {
    if (!isKind(health, 'object')) problems.push('summary: telemetry_health is not object')
    // The script checks an empty telemetry_health no further.
    else if (Object.keys(health as object).length > 0) {
      const h = health as Record<string, unknown>
      problems.push(...check(h, telemetryHealth, 'telemetry_health'))
      if (isKind(h.events, 'object'))
        problems.push(...check(h.events as Record<string, unknown>, events, 'telemetry_health.events'))
    }
  }
  return problems
}
