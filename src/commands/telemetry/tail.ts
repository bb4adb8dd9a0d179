import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {type FollowStatus, type TelemetryEvent, formatEvent, tail} from '../../checks/telemetry.js'
import {ExitCode, usageError} from '../../stack/errors.js'
import {parseSince} from '../../stack/logs.js'
import {serviceUrl} from '../../stack/running.js'

export default class TelemetryTail extends PocCommand {
  static description = `Prints the latest telemetry events that pm holds (it keeps the last 200) and that match every filter given, oldest first: the time pm received each, its level, component, event and detail. With -f it then prints each new matching event as pm receives it, until Ctrl+C. When pm goes away (a restart, poc down --only pm) it says so on stderr, waits for pm to come back, and goes on from the last event it printed: nothing is missed and nothing printed twice. With --json every event is one JSON object on a line of its own (NDJSON), and nothing else is on stdout.

${exitCodesHelp}
  130  interrupted (Ctrl+C) while following`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'The 50 latest events.'},
    {
      command: '<%= config.bin %> <%= command.id %> -f --level error',
      description: 'Follow the errors, whatever component sends them.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --component ui --event fallback --since 10m',
      description: "The ui's fallback events of the last 10 minutes.",
    },
    {
      command: "<%= config.bin %> <%= command.id %> --detail-path '$.detail.marker' --limit 5",
      description: 'The last 5 events whose detail has a marker.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> -f --json | jq -c \'select(.level == "warn")\'',
      description: 'Follow as NDJSON, one event per line, for a script.',
    },
  ]

  static flags = {
    component: Flags.string({description: 'Only events of this component.'}),
    detail: Flags.string({description: 'Only events whose detail, as JSON, contains this text.'}),
    'detail-path': Flags.string({
      description:
        'Only events where this path finds something: $.detail.marker, items[1].code, checks[*].status.',
    }),
    event: Flags.string({description: 'Only events of this name.'}),
    follow: Flags.boolean({char: 'f', description: 'Keep printing new events as pm receives them.'}),
    level: Flags.string({
      description: 'Only events of this level.',
      options: ['debug', 'info', 'warn', 'error'],
    }),
    limit: Flags.integer({
      default: 50,
      description: 'How many of the latest events to print first.',
      max: 200,
      min: 1,
    }),
    origin: Flags.string({description: 'Only events from this origin (client, server, cli, …).'}),
    since: Flags.string({
      description: 'Only events received since then: a duration back (30s, 10m, 2h) or a date.',
    }),
  }

  static summary = 'Show telemetry events, and follow them live.'

  async run(): Promise<void> {
    const {flags} = await this.parse(TelemetryTail)
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    if (flags.since !== undefined && !since) {
      throw usageError(`--since expects a duration (30s, 10m, 2h) or a date, got "${flags.since}"`)
    }
    const url = await serviceUrl(this.home, 'pm')
    const filters = {
      component: flags.component,
      event: flags.event,
      level: flags.level,
      origin: flags.origin,
      detail: flags.detail,
      detailPath: flags['detail-path'],
      since,
    }
    const print = (event: TelemetryEvent) => {
      // NDJSON as events come; oclif mutes this.log under --json.
      if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(event)}\n`)
      else this.log(formatEvent(event))
    }
    if (!flags.follow) {
      await tail(url, filters, {limit: flags.limit, onEvent: print})
      return
    }
    const interruption = this.interruption()
    try {
      await tail(url, filters, {
        limit: flags.limit,
        onEvent: print,
        follow: {
          signal: interruption.signal,
          // Straight to stderr: oclif mutes logToStderr under --json, and these notes matter then too.
          onStatus: (status) => process.stderr.write(`${statusNote(status, url)}\n`),
        },
      })
    } finally {
      interruption.dispose()
    }
    if (interruption.signal.aborted) process.exitCode = ExitCode.interrupted
  }
}

function statusNote(status: FollowStatus, url: string): string {
  switch (status.kind) {
    case 'lost':
      return `pm at ${url} went away (${status.reason}); reconnecting…`
    case 'back':
      return `pm is back; going on after event ${status.after ?? '(none yet)'}.`
    case 'resync':
      return `pm cannot replay everything after event ${status.lastEventId}: ${status.reason}; going on with what it kept.`
  }
}
