import chalk from 'chalk'
import {formatDuration} from '../stack/clock.js'
import type {ComponentReport, ComponentState} from '../stack/stack.js'
import {renderTable} from './table.js'

const stateColour: Record<ComponentState, (text: string) => string> = {
  healthy: chalk.green,
  unhealthy: chalk.yellow,
  down: chalk.red,
  stopped: chalk.dim,
  unavailable: chalk.dim,
}

/**
 * `poc status` shows how long each component has run (UPTIME); `poc up` how long each took to
 * become ready (READY IN), which is what it measured.
 */
export function componentTable(
  components: ComponentReport[],
  options: {showUnavailable: boolean; time?: 'uptime' | 'ready'},
): string[] {
  const readyColumn = options.time === 'ready'
  const shown = components.filter((c) => options.showUnavailable || c.state !== 'unavailable')
  const containers = shown.some((c) => c.container)
  const rows = shown.map((c) => [
    c.name,
    stateColour[c.state](c.state),
    c.pids.length > 0 ? c.pids.join(',') : '-',
    ...(containers ? [c.container ? `${c.container.id} ${chalk.dim(c.container.image)}` : '-'] : []),
    c.version ?? '-',
    Object.values(c.ports).join(',') || '-',
    ...[readyColumn ? c.readyMs : c.uptimeMs].map((ms) => (ms === undefined ? '-' : formatDuration(ms))),
    c.state === 'unavailable' || c.state === 'down' ? chalk.dim(c.reason ?? '') : mainUrl(c),
  ])
  return renderTable(
    [
      'COMPONENT',
      'STATE',
      'PID',
      ...(containers ? ['CONTAINER'] : []),
      'VERSION',
      'PORTS',
      readyColumn ? 'READY IN' : 'UPTIME',
      'URL',
    ],
    rows,
  )
}

function mainUrl(c: ComponentReport): string {
  const urls = Object.entries(c.urls)
  if (urls.length === 0) return ''
  return urls.map(([name, url]) => (urls.length === 1 ? url : `${name} ${url}`)).join('  ')
}
