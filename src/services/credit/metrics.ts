import type {Registry} from 'prom-client'
import {counter} from '../shared/metrics.js'

/** credit's own series, beside the ones every service has. */
export function creditMetrics(registry: Registry) {
  return {
    decisions: counter(registry, 'poc_credit_decisions_total', 'Credit decisions', ['decision', 'source']),
  }
}
