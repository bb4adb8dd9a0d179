import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {send} from '../../checks/telemetry.js'
import {usageError} from '../../stack/errors.js'
import {serviceUrl} from '../../stack/running.js'

/** What `poc telemetry send --json` prints. */
export interface TelemetrySendResult {
  ok: true
  component: string
  event: string
}

export default class TelemetrySend extends PocCommand {
  static description = `Posts one telemetry event to pm (POST /api/v1/telemetry/ui), as a UI or a server would: pm stamps it with the time it received it, keeps it with the last 200 and appends it to $POC_HOME/logs/telemetry.log. Handy to mark a moment in a tail, or to try a filter.

${exitCodesHelp}`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --component ui --event click',
      description: 'An info event from the cli origin.',
    },
    {
      command: `<%= config.bin %> <%= command.id %> --component ui --event fallback --level warn --detail '{"marker":"m-1","checks":[{"status":"fail"}]}'`,
      description: 'A warning with a detail that --detail-path can find.',
    },
  ]

  static flags = {
    component: Flags.string({
      description: 'The component the event is about (ui, server, …).',
      required: true,
    }),
    detail: Flags.string({description: 'The detail, as JSON (an object, array, string or number).'}),
    event: Flags.string({description: 'The event name.', required: true}),
    level: Flags.string({
      default: 'info',
      description: 'Its level.',
      options: ['debug', 'info', 'warn', 'error'],
    }),
    origin: Flags.string({default: 'cli', description: 'Where it comes from.'}),
  }

  static summary = 'Send a telemetry event to pm.'

  async run(): Promise<TelemetrySendResult> {
    const {flags} = await this.parse(TelemetrySend)
    let detail: unknown
    if (flags.detail !== undefined) {
      try {
        detail = JSON.parse(flags.detail)
      } catch (error) {
        throw usageError(`--detail is not JSON: ${(error as Error).message}`, [
          `Quote it for the shell: --detail '{"marker":"m-1"}'`,
        ])
      }
    }
    const url = await serviceUrl(this.home, 'pm')
    const event = {
      component: flags.component,
      event: flags.event,
      level: flags.level,
      origin: flags.origin,
      detail,
    }
    await send(url, event)
    this.say(`Sent ${flags.level} ${flags.component} ${flags.event} to pm.`)
    return {ok: true, component: flags.component, event: flags.event}
  }
}
