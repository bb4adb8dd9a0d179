import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {componentTable} from '../cli/render.js'
import {type StatusResult, status} from '../stack/stack.js'

export default class Status extends PocCommand {
  static description = `Shows every component of the catalog: healthy (running and answering its readiness check), unhealthy (running, not answering), down (recorded but its process is gone), stopped, or unavailable (not implemented yet, or not under this runtime). Finds the stack through $POC_HOME; needs no flags.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'What runs, with pids, ports and uptime.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'The same as JSON, for scripts.'},
  ]

  static summary = 'What runs, its health, pids, ports and uptime.'

  async run(): Promise<StatusResult> {
    await this.parse(Status)
    const result = await status({home: this.home})
    for (const warning of result.warnings) this.warn(warning)
    if (!result.running) this.say(`No stack is running from ${result.home}. Start one with: poc up`)
    else this.say(`Stack in ${result.home} (runtime ${result.runtime}, port offset ${result.portOffset})`)
    this.say()
    for (const line of componentTable(result.components, {showUnavailable: true})) this.say(line)
    return result
  }
}
