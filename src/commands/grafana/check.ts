import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {PocCommand} from '../../cli/base-command.js'
import {durationFlag} from '../../cli/flags.js'
import {renderTable} from '../../cli/table.js'
import {defaultWindowMs, grafanaCheck} from '../../checks/grafana/check.js'
import type {CheckOutcome, GrafanaCheckResult} from '../../checks/grafana/model.js'
import {ExitCode, usageError} from '../../stack/errors.js'

const statusColour: Record<CheckOutcome['status'], (text: string) => string> = {
  passed: chalk.green,
  failed: chalk.red,
}

export default class GrafanaCheck extends PocCommand {
  static description = `Checks the dashboards poc ships (fixtures/grafana) against their manifest, their provisioning and what our stack really exports, then against a live Prometheus and Grafana when there is one.

Offline, always: every manifest entry's file exists, is valid JSON and has that title and uid; no dashboard file is missing from the manifest; uids and titles are unique; every datasource a panel names is provisioned; panel ids are unique; the PromQL of every panel parses (the Prometheus UI's grammar, then Prometheus' own parser through promtool when it is installed); every metric a panel queries is one a component exports (our services' registries, built in-process, and what RabbitMQ and Prometheus exported when last recorded); every Loki query parses and selects labels Promtail sets; the alert rule TelemetryFallbackSpike is provisioned and can fire.

Against Prometheus (--prometheus-url, or the stack's own when it was started with --with observability): every scrape target is up, the SLO rules are loaded, and every metrics panel's query returns series over the last --window — a panel that would show "No data" fails, named with its dashboard and query.

With --live, against Grafana (--grafana-url, admin credentials): every manifest dashboard is in /api/search, the alert rule is in the ruler API and is not firing. The output says what was verified and what was not: logs panels are never run against Loki here.

EXIT CODES
  0  every check passed
  1  a check failed
  2  usage error
  3  Prometheus or Grafana could not be reached, or refused the credentials`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: "The shipped files; and the stack's Prometheus, if it runs.",
    },
    {
      command: '<%= config.bin %> <%= command.id %> --prometheus-url http://127.0.0.1:9090',
      description: 'Every metrics panel against this Prometheus: none may show "No data".',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --live --grafana-url http://127.0.0.1:3000',
      description: 'Also ask Grafana for the dashboards and the alert rule (admin/admin by default).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --offline --fixtures ./my-fixtures',
      description: 'Only the file checks, on a copy of the fixtures being edited.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --json | jq \'.checks[] | select(.status == "failed")\'',
      description: 'The failed checks, for a script.',
    },
  ]

  static flags = {
    fixtures: Flags.string({
      description: 'A fixtures directory laid out as the shipped one (grafana/, prometheus/, promtail/).',
    }),
    'grafana-password': Flags.string({
      default: 'admin',
      description: "Grafana admin's password (with --live).",
      env: 'GF_SECURITY_ADMIN_PASSWORD',
    }),
    'grafana-url': Flags.string({
      description: "Grafana's URL; implies --live [default: the stack's Grafana].",
    }),
    'grafana-user': Flags.string({
      default: 'admin',
      description: 'Grafana admin user (with --live).',
      env: 'GF_SECURITY_ADMIN_USER',
    }),
    live: Flags.boolean({description: 'Also check Grafana itself: dashboards, alert rule, alert state.'}),
    offline: Flags.boolean({
      description: 'Only the file checks, even when the stack runs Prometheus.',
    }),
    'prometheus-url': Flags.string({
      description: "Run the panels' queries on this Prometheus [default: the stack's, when it runs one].",
    }),
    window: durationFlag({
      default: defaultWindowMs,
      defaultHelp: async () => '5m',
      description: 'How far back a panel must have data.',
    }),
  }

  static summary = 'Dashboards and their manifest are consistent, offline and against Prometheus and Grafana.'

  async run(): Promise<GrafanaCheckResult> {
    const {flags} = await this.parse(GrafanaCheck)
    if (flags.offline && (flags['prometheus-url'] || flags.live || flags['grafana-url']))
      throw usageError(
        '--offline checks the files only: it cannot go with --prometheus-url, --live or --grafana-url',
      )
    for (const name of ['prometheus-url', 'grafana-url'] as const) {
      const value = flags[name]
      if (value === undefined) continue
      try {
        new URL(value)
      } catch {
        throw usageError(`--${name} is not a URL: ${value}`)
      }
    }
    const result = await grafanaCheck({
      home: this.home,
      fixturesDir: flags.fixtures,
      prometheusUrl: flags['prometheus-url'],
      offline: flags.offline,
      live: flags.live || flags['grafana-url'] !== undefined,
      grafanaUrl: flags['grafana-url'],
      grafanaUser: flags['grafana-user'],
      grafanaPassword: flags['grafana-password'],
      windowMs: flags.window,
    })
    for (const line of this.view(result)) this.say(line)
    if (result.status === 'failed') process.exitCode = ExitCode.checkFailed
    if (result.status === 'unavailable') process.exitCode = ExitCode.unavailable
    return result
  }

  private view(result: GrafanaCheckResult): string[] {
    const rows = result.checks.map((c) => [
      c.phase,
      c.title,
      String(c.checked),
      statusColour[c.status](c.status),
    ])
    const failures = result.checks.flatMap((c) =>
      c.failures.map((f) => `${chalk.red('✗')} ${f.subject}: ${f.message}`),
    )
    const unreachable = [result.prometheus, result.grafana].filter((s) => s && !s.reachable)
    const c = result.counts
    const verdict =
      result.status === 'unavailable'
        ? chalk.red('Grafana check incomplete: a server could not be reached.')
        : result.status === 'failed'
          ? chalk.red(`Grafana check failed: ${failures.length} problem(s).`)
          : chalk.green(
              `Grafana check passed: ${c.dashboards} dashboards, ${c.panels} panels${c.queriedLive > 0 ? `, ${c.withLiveData} of ${c.queriedLive} metrics panels with live data` : ''}.`,
            )
    return [
      ...renderTable(['PHASE', 'CHECK', 'CHECKED', 'RESULT'], rows),
      ...(failures.length > 0 ? ['', ...failures] : []),
      ...unreachable.map((s) => chalk.red(`unreachable: ${s?.error ?? s?.url}`)),
      '',
      ...result.verified.map((v) => `verified: ${v}`),
      ...result.notVerified.map((v) => chalk.dim(`not verified: ${v}`)),
      verdict,
    ]
  }
}
