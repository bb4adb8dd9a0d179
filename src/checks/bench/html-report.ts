import {
  type BenchResult,
  type ClientPercentiles,
  type Percentiles,
  type StoredCompliance,
  keyWeights,
} from '../../contract/bench.js'

/**
 * The `poc bench --html` report: one HTML document with no script and nothing to fetch, so it
 * opens from a CI artifact or a mail attachment offline. Every string from the result is
 * escaped: the target and the phase names come from the user's flags and profile files.
 */
export function renderHtmlReport(result: BenchResult): string {
  const {profile, environment, metrics} = result
  const profileName = profile.label ?? profile.name
  const weights = keyWeights(profile)
  const title = `poc bench: ${profileName} against ${profile.target}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${styles}</style>
</head>
<body>
<header>
<h1>poc bench <span class="profile">${esc(profileName)}</span>${result.slo_compliance ? ` ${statusBadge(result.slo_compliance.status)}` : ''}</h1>
<p class="target">${esc(profile.target)}</p>
${definitionList([
  ['Timestamp', esc(result.timestamp)],
  ['Runner', esc(environment.runner_label)],
  ['Environment', esc(environmentLine(environment))],
  ['Duration', `${num(profile.duration_sec)} s (warm-up ${num(profile.warmup_sec)} s excluded)`],
  ...(result.measurement && !result.measurement.valid
    ? [['Invalid measurement', esc(result.measurement.invalid_reasons.join('; '))] as [string, string]]
    : []),
  ['Connections', num(profile.connections)],
])}
${phasesTable(profile.phases)}
${weights ? countsTable('Key weights', 'Key', 'Weight', weights) : ''}
</header>
<main>
<section>
<h2>Headline</h2>
${definitionList([
  [
    'Achieved rate',
    `${num(metrics.http.achieved_rate, 1)} /s of ${num(metrics.http.target_rate, 1)} /s target`,
  ],
  ['Throughput', `${num(metrics.summary.throughput_events_per_sec, 1)} events/s`],
  ['Error rate', `${num(metrics.summary.error_rate_percent, 4)} %`],
  ['Requests', num(metrics.http.requests)],
  ['Completed', num(metrics.http.completed)],
  ['Errors', num(metrics.http.errors)],
  ['Late sends', num(metrics.http.late_sends)],
  ['Unsent', num(metrics.http.unsent)],
])}
${countsTable('Status counts', 'Status', 'Responses', metrics.http.status_counts)}
${metrics.http.error_causes ? countsTable('Error causes', 'Cause', 'Count', metrics.http.error_causes) : ''}
</section>
<section>
<h2>Latency percentiles (client side, round trip)</h2>
${latencyPlot(metrics.http.percentile_curve)}
${clientPercentilesTable(metrics.http.corrected_latency_us, metrics.http.raw_latency_us)}
${curveTable(metrics.http.percentile_curve)}
</section>
${serverSection(metrics)}
${result.slo_compliance ? sloSection(result.slo_compliance) : ''}
</main>
</body>
</html>
`
}

type CurvePoint = BenchResult['metrics']['http']['percentile_curve'][number]

const styles = `
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330;margin:0 auto;padding:1.5rem;max-width:980px}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d8dce4;padding-bottom:.25rem}
h3{font-size:1rem;margin:1.25rem 0 .4rem}
.target{font-family:ui-monospace,monospace;margin:0 0 1rem;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0 0 1rem}
dt{color:#5a6475}
dd{margin:0;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding-bottom:.25rem}
th,td{border:1px solid #d8dce4;padding:.25rem .6rem;text-align:left}
td.n{text-align:right}
thead th{background:#f3f5f8}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:.3rem;font-size:.85rem;color:#fff;vertical-align:middle}
.badge.PASS{background:#1e7d3a}.badge.WARN{background:#a86a00}.badge.FAIL{background:#b3261e}
tr.failed td{background:#fdecea}
svg{display:block;max-width:100%;height:auto;font-size:12px}
.grid{stroke:#e4e7ed}
.axis{stroke:#5a6475}
[data-series] polyline{fill:none;stroke-width:2}
[data-series=corrected]{stroke:#c2410c;fill:#c2410c}
[data-series=raw]{stroke:#1d5fbf;fill:#1d5fbf}
[data-series=raw] polyline{stroke-dasharray:6 4}
`

/** Chart geometry in SVG user units; the CSS scales the whole drawing down on narrow screens. */
const plot = {width: 760, height: 420, left: 70, right: 48, top: 20, bottom: 56}
const plotWidth = plot.width - plot.left - plot.right
const plotHeight = plot.height - plot.top - plot.bottom
/** Where a latency of 0 is drawn: a log axis has no 0. */
const minPlottableUs = 1

const seriesStyle = [
  {key: 'corrected', label: 'corrected (from intended send time)', value: (p: CurvePoint) => p.corrected_us},
  {key: 'raw', label: 'raw (from actual send time)', value: (p: CurvePoint) => p.raw_us},
] as const

/** The "nines" scale: 90 → 1, 99 → 2, 99.9 → 3, so the tail gets as much room as the body. */
function nines(percentile: number): number {
  return -Math.log10(1 - percentile / 100)
}

function latencyPlot(curve: CurvePoint[]): string {
  // p100 is infinitely far on the nines scale: it is drawn one decade past the last tick, and the
  // ticks reach 99.99 at least so that runs with different curves read alike.
  const finite = curve.map((p) => p.percentile).filter((p) => p < 100)
  // The epsilon keeps 99.9 (3.0000000000000004 nines in floating point) on its own tick.
  const deepest = Math.max(4, ...finite.map((p) => Math.ceil(nines(Math.max(0, p)) - 1e-9)))
  const xEnd = deepest + 1
  const xOf = (percentile: number) =>
    plot.left + (percentile >= 100 ? 1 : nines(Math.max(0, percentile)) / xEnd) * plotWidth

  // An empty curve still gets an axis (around 1 ms) under its "no latency samples" note.
  const latencies =
    curve.length > 0
      ? curve.flatMap((p) => [p.corrected_us, p.raw_us]).map((us) => Math.max(us, minPlottableUs))
      : [1000]
  const yLow = Math.floor(Math.log10(Math.min(...latencies)))
  const yHigh = Math.max(Math.ceil(Math.log10(Math.max(...latencies))), yLow + 1)
  const yOf = (us: number) =>
    plot.top + plotHeight * (1 - (Math.log10(Math.max(us, minPlottableUs)) - yLow) / (yHigh - yLow))

  const xTicks = [
    ...Array.from({length: xEnd}, (_, n) => ({x: xOf(100 - 100 / 10 ** n), label: ninesLabel(n)})),
    {x: xOf(100), label: '100 (max)'},
  ]
  const yTicks = logTicks(yLow, yHigh).map((us) => ({y: yOf(us), label: num(us / 1000, 3)}))

  const grid = [
    ...xTicks.map(
      (t) =>
        `<line class="grid" x1="${r(t.x)}" y1="${plot.top}" x2="${r(t.x)}" y2="${plot.top + plotHeight}"/>` +
        `<text x="${r(t.x)}" y="${plot.top + plotHeight + 18}" text-anchor="middle">${t.label}</text>`,
    ),
    ...yTicks.map(
      (t) =>
        `<line class="grid" x1="${plot.left}" y1="${r(t.y)}" x2="${plot.left + plotWidth}" y2="${r(t.y)}"/>` +
        `<text x="${plot.left - 8}" y="${r(t.y) + 4}" text-anchor="end">${t.label}</text>`,
    ),
  ].join('\n')

  const series = seriesStyle
    .map((s) => {
      const points = curve.map((p) => ({p, x: xOf(p.percentile), y: yOf(s.value(p)), us: s.value(p)}))
      const circles = points
        .map(
          ({p, x, y, us}) =>
            `<circle class="point" cx="${r(x)}" cy="${r(y)}" r="3.5" data-percentile="${num0(p.percentile)}" data-latency-us="${num0(us)}">` +
            `<title>p${num0(p.percentile)} ${s.key}: ${num(us / 1000, 3)} ms</title></circle>`,
        )
        .join('\n')
      return (
        `<g class="series" data-series="${s.key}">\n` +
        `<polyline points="${points.map(({x, y}) => `${r(x)},${r(y)}`).join(' ')}"/>\n${circles}\n</g>`
      )
    })
    .join('\n')

  const legend = seriesStyle
    .map(
      (s, i) =>
        `<g class="legend" data-series="${s.key}" transform="translate(${plot.left + 14},${plot.top + 16 + i * 20})">` +
        `<polyline points="0,0 28,0"/><circle cx="14" cy="0" r="3.5"/>` +
        `<text x="36" y="4" stroke="none" fill="#1d2330">${s.label}</text></g>`,
    )
    .join('\n')

  const bottom = plot.top + plotHeight
  return `<svg id="latency-plot" role="img" aria-label="Latency by percentile, corrected and raw, in milliseconds on a log scale" viewBox="0 0 ${plot.width} ${plot.height}" width="${plot.width}" height="${plot.height}" xmlns="http://www.w3.org/2000/svg">
${grid}
<line class="axis" x1="${plot.left}" y1="${bottom}" x2="${plot.left + plotWidth}" y2="${bottom}"/>
<line class="axis" x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${bottom}"/>
<text x="${plot.left + plotWidth / 2}" y="${plot.height - 10}" text-anchor="middle">percentile</text>
<text transform="translate(16,${plot.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>
${series}
${legend}
${curve.length === 0 ? `<text x="${plot.left + plotWidth / 2}" y="${plot.top + plotHeight / 2}" text-anchor="middle">no latency samples</text>` : ''}
</svg>`
}

function ninesLabel(n: number): string {
  return n === 0 ? '0' : (100 - 100 / 10 ** n).toFixed(Math.max(0, n - 2))
}

/** 1-2-5 ticks per decade when there are few decades; decades alone otherwise. */
function logTicks(low: number, high: number): number[] {
  const steps = high - low <= 3 ? [1, 2, 5] : [1]
  const ticks: number[] = []
  for (let e = low; e <= high; e++) for (const s of steps) if (e < high || s === 1) ticks.push(s * 10 ** e)
  return ticks
}

function curveTable(curve: CurvePoint[]): string {
  const rows = curve
    .map(
      (p) =>
        `<tr><td class="n">${num0(p.percentile)}</td><td class="n">${num(p.corrected_us / 1000, 3)}</td><td class="n">${num(p.raw_us / 1000, 3)}</td></tr>`,
    )
    .join('\n')
  return `<table id="latency-data">
<caption>Percentile curve (the plot's data)</caption>
<thead><tr><th scope="col">Percentile</th><th scope="col">Corrected (ms)</th><th scope="col">Raw (ms)</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
}

function clientPercentilesTable(corrected: ClientPercentiles, raw: ClientPercentiles): string {
  const keys = ['p50', 'p90', 'p99', 'p999', 'max'] as const
  const row = (label: string, values: ClientPercentiles) =>
    `<tr><th scope="row">${label}</th>${keys.map((k) => `<td class="n">${num(values[k] / 1000, 3)}</td>`).join('')}</tr>`
  return `<table>
<caption>Latency (ms)</caption>
<thead><tr><th></th>${keys.map((k) => `<th scope="col">${k}</th>`).join('')}</tr></thead>
<tbody>
${row('corrected', corrected)}
${row('raw', raw)}
</tbody>
</table>`
}

function serverSection(metrics: BenchResult['metrics']): string {
  const {fast_path: fastPath, persistence_queue: queue, summary} = metrics
  if (!fastPath && !queue && summary.tail_ratio === undefined) return ''
  const queueRows: Array<[string, Percentiles | undefined]> = queue
    ? [
        ['WAL enqueue', queue.wal_enqueue_latency_us],
        ['Durable ack', queue.durable_ack_latency_us],
        ['fdatasync', queue.fdatasync_latency_us],
      ]
    : []
  const parts = [
    fastPath
      ? percentilesTable('Fast path (µs)', [['Process latency', fastPath.process_latency_us]]) +
        definitionList([['Drop count', num(fastPath.drop_count)]])
      : '',
    queue ? percentilesTable('Persistence queue (µs)', queueRows) : '',
    queue?.error_count !== undefined ? definitionList([['Persistence errors', num(queue.error_count)]]) : '',
    summary.tail_ratio !== undefined
      ? definitionList([['Tail ratio (fast-path p99 / p50)', num(summary.tail_ratio, 2)]])
      : '',
  ]
  return `<section>
<h2>Server side (gateway metrics over the measured window)</h2>
${parts.filter(Boolean).join('\n')}
</section>`
}

function percentilesTable(caption: string, rows: Array<[string, Percentiles | undefined]>): string {
  const body = rows
    .filter((row): row is [string, Percentiles] => row[1] !== undefined)
    .map(
      ([label, p]) =>
        `<tr><th scope="row">${label}</th><td class="n">${num(p.p50)}</td><td class="n">${num(p.p99)}</td><td class="n">${num(p.p999)}</td><td class="n">${p.count === undefined ? '' : num(p.count)}</td></tr>`,
    )
    .join('\n')
  return `<table>
<caption>${caption}</caption>
<thead><tr><th></th><th scope="col">p50</th><th scope="col">p99</th><th scope="col">p999</th><th scope="col">samples</th></tr></thead>
<tbody>
${body}
</tbody>
</table>`
}

function sloSection(slo: StoredCompliance): string {
  const checks = slo.checks
    .map(
      (c) =>
        `<tr${c.passed ? '' : ' class="failed"'}><td>${esc(c.name)}</td><td><code>${esc(c.metric)}</code></td>` +
        `<td>${esc(c.operator)} ${num0(c.threshold)}</td><td class="n">${c.missing || c.actual === null ? 'missing' : num0(c.actual)}</td>` +
        `<td>${c.passed ? 'pass' : 'fail'}</td><td>${esc(c.severity)}</td><td>${esc(c.message)}</td></tr>`,
    )
    .join('\n')
  const baseline = slo.baseline_comparison
  return `<section id="slo">
<h2>SLO compliance ${statusBadge(slo.status)}</h2>
${definitionList([
  ...(slo.profile ? [['Gate profile', esc(slo.profile)] as [string, string]] : []),
  ...(slo.checked_at ? [['Checked at', esc(slo.checked_at)] as [string, string]] : []),
])}
<table>
<caption>Checks</caption>
<thead><tr><th scope="col">Check</th><th scope="col">Metric</th><th scope="col">Threshold</th><th scope="col">Actual</th><th scope="col">Result</th><th scope="col">Severity</th><th scope="col">Message</th></tr></thead>
<tbody>
${checks}
</tbody>
</table>
${
  baseline
    ? definitionList([
        [
          'Baseline',
          `${esc(baseline.file ?? '')} (${esc(baseline.label ?? `runner ${baseline.runner_label ?? ''}`)})`,
        ],
        [
          'p99 baseline → actual',
          `${num(baseline.baseline_p99_us ?? 0)} µs → ${num(baseline.current_p99_us ?? baseline.actual_p99_us ?? 0)} µs`,
        ],
        [
          'Regression',
          `${num(baseline.regression_percent ?? 0, 1)} % (max ${num(baseline.max_regression_percent ?? 0, 1)} %): ${baseline.passed ? 'pass' : 'fail'}`,
        ],
      ])
    : ''
}
</section>`
}

function phasesTable(phases: BenchResult['profile']['phases']): string {
  const rows = phases
    .map(
      (p) =>
        `<tr><td>${esc(p.name)}</td><td class="n">${num(p.duration_sec)}</td><td class="n">${num(p.rate_start)}</td><td class="n">${num(p.rate_end)}</td></tr>`,
    )
    .join('\n')
  return `<table>
<caption>Phases</caption>
<thead><tr><th scope="col">Phase</th><th scope="col">Duration (s)</th><th scope="col">Rate from (/s)</th><th scope="col">Rate to (/s)</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
}

function countsTable(
  caption: string,
  keyHeader: string,
  valueHeader: string,
  counts: Record<string, number>,
): string {
  const rows = Object.entries(counts)
    .map(([key, value]) => `<tr><td>${esc(key)}</td><td class="n">${num(value)}</td></tr>`)
    .join('\n')
  return `<table>
<caption>${caption}</caption>
<thead><tr><th scope="col">${keyHeader}</th><th scope="col">${valueHeader}</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
}

/** Values must already be escaped: some of them carry markup of ours. */
function definitionList(items: Array<[string, string]>): string {
  return `<dl>\n${items.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('\n')}\n</dl>`
}

function statusBadge(status: StoredCompliance['status']): string {
  const safe = esc(status)
  return `<span class="badge ${safe}">${safe}</span>`
}

function environmentLine(env: BenchResult['environment']): string {
  return [
    env.hostname,
    env.os,
    `node ${env.node}`,
    `${env.cpus} CPUs${env.cpu_model ? ` (${env.cpu_model})` : ''}`,
    env.memory_gib === undefined ? '' : `${env.memory_gib} GiB`,
  ]
    .filter(Boolean)
    .join(', ')
}

function esc(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** Grouped for reading; `Number()` so a value that is not a number in a hand-edited file cannot carry markup. */
function num(value: number, maxFractionDigits = 0): string {
  return Number(value).toLocaleString('en-US', {maximumFractionDigits: maxFractionDigits})
}

/** Exact, ungrouped: for attributes and percentiles that are read back. */
function num0(value: number): string {
  return String(Number(value))
}

function r(value: number): string {
  return value.toFixed(1)
}
