import {Gauge, type Registry} from 'prom-client'
import {counter} from '../shared/metrics.js'

/** The ui's own series beside the HTTP ones: whether pm answers, and what the proxy could not forward. */
export function uiMetrics(registry: Registry) {
  return {
    pmReachable: new Gauge({
      name: 'poc_ui_pm_reachable',
      help: '1 while pm answered the last health probe or proxied request, 0 after a failure',
      registers: [registry],
    }),
    upstreamFailures: counter(
      registry,
      'poc_ui_proxy_upstream_failures_total',
      'proxied requests pm did not answer (refused, reset, timed out)',
      ['reason'],
    ),
  }
}
export type UiMetrics = ReturnType<typeof uiMetrics>
