/**
 * The JSONPath-like expressions of pm's telemetry filter `detail_path` (SPEC §4.1):
 * `$.detail.marker`, `items[1].code`, `checks[*].status`. A path without `$` starts at the
 * event's detail. Returns every value the path reaches; `*` fans out over arrays and objects.
 */
export type PathStep = {kind: 'key'; key: string} | {kind: 'index'; index: number} | {kind: 'wildcard'}

export class DetailPathError extends Error {}

export function parseDetailPath(path: string): {fromRoot: boolean; steps: PathStep[]} {
  const text = path.trim()
  if (text === '') throw new DetailPathError('detail_path is empty')
  const fromRoot = text.startsWith('$')
  const body = fromRoot ? text.slice(1) : `.${text}`
  const steps: PathStep[] = []
  const token = /\.([A-Za-z_$][\w$-]*|\*)|\[(\d+|\*|'[^']*'|"[^"]*")\]/y
  let position = 0
  while (position < body.length) {
    token.lastIndex = position
    const match = token.exec(body)
    if (!match) throw new DetailPathError(`detail_path: cannot read "${body.slice(position)}" in ${path}`)
    position = token.lastIndex
    const [, dotted, bracketed] = match
    const part = dotted ?? (bracketed as string)
    if (part === '*') steps.push({kind: 'wildcard'})
    else if (dotted !== undefined) steps.push({kind: 'key', key: dotted})
    else if (/^\d+$/.test(part)) steps.push({kind: 'index', index: Number(part)})
    else steps.push({kind: 'key', key: part.slice(1, -1)})
  }
  return {fromRoot, steps}
}

export function evaluateDetailPath(path: string, event: {detail?: unknown}): unknown[] {
  const {fromRoot, steps} = parseDetailPath(path)
  let current: unknown[] = [fromRoot ? event : event.detail]
  for (const step of steps) {
    const next: unknown[] = []
    for (const value of current) {
      if (value === null || typeof value !== 'object') continue
      // One push per value: spreading a 300,000-element array into push() overflows the stack.
      if (step.kind === 'wildcard') for (const child of Object.values(value)) next.push(child)
      else if (step.kind === 'index') {
        if (Array.isArray(value) && step.index < value.length) next.push(value[step.index])
      } else if (Object.hasOwn(value, step.key)) next.push((value as Record<string, unknown>)[step.key])
    }
    current = next
  }
  return current.filter((v) => v !== undefined)
}
