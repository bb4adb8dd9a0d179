import path from 'node:path'
import {packageRoot} from '../lib/package-root.js'
import type {PocHome} from './home.js'

/**
 * What the observability containers (grafana, loki, promtail) mount from this package and the
 * stack's home, and the environment their configs expand. None of them has a native form, so
 * only a container runtime (the engine, or compose/ by hand) uses this; the paths inside the
 * containers are the official images' defaults.
 */

export interface Mount {
  source: string
  target: string
  readOnly: boolean
}

export interface ContainerFiles {
  mounts: Mount[]
  env: Record<string, string>
  /** Arguments replacing the image's command, when the default one does not suffice. */
  command?: string[]
}

export const fixturesDir = path.join(packageRoot, 'fixtures')

/** Where the stack's components reach each other on the engine's network. */
export interface ObservabilityAddresses {
  prometheusUrl: string
  lokiUrl: string
}

export function grafanaFiles(addresses: ObservabilityAddresses): ContainerFiles {
  const grafana = path.join(fixturesDir, 'grafana')
  return {
    mounts: [
      {source: path.join(grafana, 'provisioning'), target: '/etc/grafana/provisioning', readOnly: true},
      // The dashboard provider (provisioning/dashboards/poc.yaml) reads this path.
      {source: path.join(grafana, 'dashboards'), target: '/var/lib/grafana/dashboards/poc', readOnly: true},
    ],
    env: {POC_PROMETHEUS_URL: addresses.prometheusUrl, POC_LOKI_URL: addresses.lokiUrl},
  }
}

export function lokiFiles(): ContainerFiles {
  return {
    mounts: [
      {
        source: path.join(fixturesDir, 'loki', 'loki-config.yaml'),
        target: '/etc/loki/local-config.yaml',
        readOnly: true,
      },
    ],
    env: {},
  }
}

export function promtailFiles(home: PocHome, addresses: ObservabilityAddresses): ContainerFiles {
  return {
    mounts: [
      {
        source: path.join(fixturesDir, 'promtail', 'promtail-config.yaml'),
        target: '/etc/promtail/config.yml',
        readOnly: true,
      },
      // Service logs, telemetry.log* and logs/poc-smoke/*.log, as the config's jobs expect them.
      {source: home.logsDir, target: '/var/log/poc', readOnly: true},
    ],
    env: {POC_LOKI_PUSH_URL: `${addresses.lokiUrl}/loki/api/v1/push`},
    // -config.expand-env: the Loki URL above is a ${VAR} in the config.
    command: ['-config.file=/etc/promtail/config.yml', '-config.expand-env=true'],
  }
}
