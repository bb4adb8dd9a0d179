import type {Registry} from 'prom-client'
import {counter, histogram} from '../shared/metrics.js'

/** The worker's own series, beside the ones every service has. */
export function invoiceWorkerMetrics(registry: Registry) {
  return {
    latency: histogram(registry, 'poc_invoice_latency_seconds', 'Approval to invoice generated', {
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    outcomes: counter(registry, 'poc_invoice_messages_total', 'Approvals handled by outcome', ['outcome']),
  }
}
