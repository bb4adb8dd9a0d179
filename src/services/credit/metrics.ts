import type {Registry} from 'prom-client'
import {counter} from '../shared/metrics.js'

/** credit's own series, beside the ones every service has. */
export function creditMetrics(registry: Registry) {
  const decisions = counter(registry, 'poc_credit_decisions_total', 'Credit decisions', [
    'decision',
    'source',
  ])
  // Every decision credit can make, from 0 at start, so rate() and increase() see the first one.
  decisions.labels('approved', 'rule').inc(0)
  decisions.labels('rejected', 'rule').inc(0)
  decisions.labels('approved', 'override').inc(0)
  decisions.labels('revoked', 'revoke').inc(0)
  return {decisions}
}
