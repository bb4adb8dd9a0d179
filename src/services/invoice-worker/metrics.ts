import type {Registry} from 'prom-client'
import {counter, histogram} from '../shared/metrics.js'
import {workerOutcomes} from './worker.js'

/** The worker's own series, beside the ones every service has. */
export function invoiceWorkerMetrics(registry: Registry) {
  const outcomes = counter(registry, 'poc_invoice_messages_total', 'Approvals handled by outcome', [
    'outcome',
  ])
  // Every outcome from 0 at start: a series born at its first increment hides that increment
  // from rate() and increase(), and its panel shows "No data" until the second one.
  for (const outcome of workerOutcomes) outcomes.labels(outcome).inc(0)
  return {
    latency: histogram(registry, 'poc_invoice_latency_seconds', 'Approval to invoice generated', {
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    outcomes,
  }
}
