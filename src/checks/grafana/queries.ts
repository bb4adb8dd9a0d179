import {parser as logqlParser} from '@grafana/lezer-logql'
import {parser as promqlParser} from '@prometheus-io/lezer-promql'

// The lezer types, without depending on @lezer/common directly (both grammars bring it).
type Tree = ReturnType<typeof promqlParser.parse>
type SyntaxNode = Tree['topNode']

/**
 * Panel queries read with the grammars the Prometheus and Grafana UIs use themselves
 * (@prometheus-io/lezer-promql, @grafana/lezer-logql): syntax errors, and what a query selects.
 */

export interface SyntaxProblem {
  /** 1-based column in the query after variable substitution. */
  column: number
  near: string
}

export interface PromqlReading {
  errors: SyntaxProblem[]
  /** Metric names of every vector selector, `{__name__="x"}` included. */
  metrics: string[]
}

export interface LabelMatcher {
  label: string
  op: string
  value: string
}

export interface LogqlReading {
  errors: SyntaxProblem[]
  /** The matchers of each stream selector. */
  selectors: LabelMatcher[][]
}

export interface Substitution {
  query: string
  /** Variables the query uses that neither Grafana nor the dashboard defines. */
  unknown: string[]
}

/** Grafana's built-in interval variables, as the check evaluates them. */
export interface IntervalValues {
  interval: string
  rateInterval: string
  range: string
}

const builtins = (values: IntervalValues): Record<string, string> => ({
  __interval: values.interval,
  __rate_interval: values.rateInterval,
  __range: values.range,
  __interval_ms: String(durationMs(values.interval)),
  __range_ms: String(durationMs(values.range)),
  __range_s: String(Math.round(durationMs(values.range) / 1000)),
})

/**
 * `$name`, `${name}` and `[[name]]` replaced by Grafana's built-ins or the dashboard's own
 * variables (their current value), so that the query parses as Prometheus or Loki will see it.
 */
export function substituteVariables(
  query: string,
  values: IntervalValues,
  dashboardVariables: Record<string, string> = {},
): Substitution {
  const known = {...builtins(values), ...dashboardVariables}
  const unknown = new Set<string>()
  const replaced = query.replace(
    /\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (whole, braced?: string, bracketed?: string, bare?: string) => {
      const name = (braced ?? bracketed ?? bare) as string
      const value = known[name]
      if (value === undefined) {
        unknown.add(name)
        return whole
      }
      return value
    },
  )
  return {query: replaced, unknown: [...unknown]}
}

function syntaxErrors(tree: Tree, query: string): SyntaxProblem[] {
  const errors: SyntaxProblem[] = []
  tree.iterate({
    enter(node) {
      if (!node.type.isError) return
      const near = query.slice(node.from, Math.max(node.to, node.from + 12)).trim()
      errors.push({column: node.from + 1, near: near === '' ? 'the end of the query' : near})
    },
  })
  return errors
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = []
  for (let child = node.firstChild; child; child = child.nextSibling) out.push(child)
  return out
}

function unquote(text: string): string {
  if (text.length >= 2 && /^["'`]/.test(text)) {
    const body = text.slice(1, -1)
    return text.startsWith('`') ? body : body.replace(/\\(.)/g, '$1')
  }
  return text
}

export function readPromql(query: string): PromqlReading {
  const tree = promqlParser.parse(query)
  const metrics = new Set<string>()
  tree.iterate({
    enter(ref) {
      if (ref.name === 'VectorSelector') {
        const identifier = ref.node.getChild('Identifier')
        if (identifier) metrics.add(query.slice(identifier.from, identifier.to))
      }
      if (ref.name === 'UnquotedLabelMatcher' || ref.name === 'QuotedLabelMatcher') {
        const parts = children(ref.node)
        const label = parts.find((p) => p.name === 'LabelName' || p.name === 'QuotedLabelName')
        const value = parts.find((p) => p.name === 'StringLiteral')
        const op = parts.find((p) => p.name === 'MatchOp')
        if (
          label &&
          value &&
          op &&
          unquote(query.slice(label.from, label.to)) === '__name__' &&
          query.slice(op.from, op.to) === '='
        )
          metrics.add(unquote(query.slice(value.from, value.to)))
      }
      // A quoted metric name alone in braces: {"name"} (Prometheus 3 syntax).
      if (ref.name === 'QuotedLabelName' && ref.node.parent?.name === 'LabelMatchers')
        metrics.add(unquote(query.slice(ref.from, ref.to)))
    },
  })
  return {errors: syntaxErrors(tree, query), metrics: [...metrics]}
}

export function readLogql(query: string): LogqlReading {
  const tree = logqlParser.parse(query)
  const selectors: LabelMatcher[][] = []
  tree.iterate({
    enter(ref) {
      if (ref.name !== 'Selector') return
      const matchers: LabelMatcher[] = []
      const collect = (node: SyntaxNode) => {
        for (const child of children(node)) {
          if (child.name === 'Matchers') collect(child)
          if (child.name === 'Matcher') {
            const [label, op, value] = children(child)
            if (label && op && value)
              matchers.push({
                label: query.slice(label.from, label.to),
                op: query.slice(op.from, op.to),
                value: unquote(query.slice(value.from, value.to)),
              })
          }
        }
      }
      const list = ref.node.getChild('Matchers')
      if (list) collect(list)
      selectors.push(matchers)
      return false
    },
  })
  return {errors: syntaxErrors(tree, query), selectors}
}

/** Milliseconds of a Prometheus duration such as 5m, 1h30m or 20s. */
export function durationMs(text: string): number {
  const units: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
  }
  let total = 0
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w)/g))
    total += Number(amount) * (units[unit as string] as number)
  return total
}

/**
 * The likeliest meant of `candidates` for an unknown `name`: the one keeping most of its words
 * (a renamed metric keeps most of them: gateway_fast_path_p99_us → gateway_fast_path_processing_p99_us),
 * then the closest by edit distance (a typo); undefined when nothing is close.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const words = name.split('_').filter(Boolean)
  let best: {candidate: string; missing: number; distance: number} | undefined
  for (const candidate of candidates) {
    const theirs = new Set(candidate.split('_'))
    const missing = words.filter((w) => !theirs.has(w)).length
    const distance = editDistance(name, candidate)
    if (!best || missing < best.missing || (missing === best.missing && distance < best.distance))
      best = {candidate, missing, distance}
  }
  if (!best) return undefined
  const close =
    best.missing <= Math.floor(words.length / 3) || best.distance <= Math.max(3, Math.floor(name.length / 4))
  return close ? best.candidate : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      )
    }
    previous = current
  }
  return previous[b.length] as number
}
