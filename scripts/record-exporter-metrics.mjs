#!/usr/bin/env node
// npm run record:exporter-metrics: scrape the RabbitMQ and Prometheus of the running stack
// ($POC_HOME, started with --with observability) and write what they export to
// fixtures/prometheus/exporters, which `poc grafana check` holds the dashboards to. Our own
// services need no recording: the check builds their registries in-process.
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const {resolveHome} = await import(path.join(root, 'dist/stack/home.js'))
const {readState} = await import(path.join(root, 'dist/stack/state.js'))
const {recordExporterMetrics} = await import(path.join(root, 'dist/checks/grafana/exported-metrics.js'))

const home = resolveHome()
const {state} = await readState(home, {moveCorruptAside: false})
if (!state?.components.some((c) => c.name === 'prometheus')) {
  console.error(`no stack with Prometheus runs at ${home.root}: start one with: poc up --with observability`)
  process.exit(3)
}
for (const record of await recordExporterMetrics(home, state.portOffset, path.join(root, 'fixtures'))) {
  console.log(
    `${record.component} ${record.version}: ${record.metrics.length} metrics from ${record.endpoint}`,
  )
}
