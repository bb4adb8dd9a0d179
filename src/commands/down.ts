import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {parseComponentList} from '../cli/flags.js'
import {formatDuration} from '../stack/clock.js'
import {type DownResult, down} from '../stack/stack.js'

export default class Down extends PocCommand {
  static description = `Stops every component of the stack in $POC_HOME (SIGTERM, a grace period, then SIGKILL), waits for the processes to exit and their ports to free, and leaves no process behind. Stopping a stack that is not running succeeds. With --volumes the data is deleted, so the components are killed at once, without a grace period.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Stop everything, keep data.'},
    {
      command: '<%= config.bin %> <%= command.id %> --volumes',
      description: 'Stop everything and delete its data.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --only invoice-worker',
      description:
        'Stop one service; FAIL_RATE=1 poc up --only invoice-worker starts it again with other settings.',
    },
  ]

  static flags = {
    only: Flags.string({
      description:
        'Stop only these components (comma-separated), leaving the rest running, e.g. to restart a service with other settings.',
      multiple: true,
    }),
    volumes: Flags.boolean({
      description:
        'Also delete the data directories ($POC_HOME/data, or only those of --only components); the components are killed, not stopped gracefully.',
    }),
  }

  static summary = 'Stop the stack.'

  async run(): Promise<DownResult> {
    const {flags} = await this.parse(Down)
    const result = await down(
      {volumes: flags.volumes, only: parseComponentList(flags.only)},
      {
        home: this.home,
        progress: (event) => {
          if (event.phase === 'stopping') this.say(`stopping ${event.component}…`)
        },
      },
    )
    for (const warning of result.warnings) this.warn(warning)
    for (const component of result.stopped) {
      const notes = [
        component.forced ? (flags.volumes ? 'killed, as its data is deleted' : 'needed SIGKILL') : undefined,
        component.portsStillHeld.length > 0
          ? `ports still held: ${component.portsStillHeld.join(', ')}`
          : undefined,
      ].filter(Boolean)
      this.say(
        `stopped ${component.name} in ${formatDuration(component.durationMs)}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
      )
    }
    if (result.orphans.length > 0)
      this.say(`stopped ${result.orphans.length} stray process(es) running from ${result.home}`)
    if (result.stopped.length === 0 && result.orphans.length === 0) this.say('Nothing was running.')
    if (result.volumesRemoved) this.say(`Deleted data in ${result.home}/data.`)
    this.say(`Done in ${formatDuration(result.durationMs)}.`)
    return result
  }
}
