import {Args} from '@oclif/core'
import {PocCommand} from '../../cli/base-command.js'
import {ExitCode, PocError} from '../../stack/errors.js'
import {services} from '../../services/registry.js'

export default class ServiceRun extends PocCommand {
  static args = {
    name: Args.string({description: 'The service to run.', required: true}),
  }

  static description = `Runs one of our services in the foreground with its configuration from environment variables. poc up starts services this way under every runtime; use it directly only to debug a service.`

  static hidden = true

  static summary = 'Run one service in the foreground (used by poc up).'

  async run(): Promise<void> {
    const {args} = await this.parse(ServiceRun)
    const load = services[args.name as keyof typeof services]
    if (!load) {
      throw new PocError(`there is no service named ${args.name}, or it has not landed yet`, {
        exitCode: ExitCode.usage,
        suggestions: [`Services available: ${Object.keys(services).join(', ') || 'none yet'}`],
      })
    }
    const main = await load()
    const service = await main(process.env)
    await new Promise<void>((resolve) => {
      const stop = () => resolve()
      process.once('SIGTERM', stop)
      process.once('SIGINT', stop)
    })
    await service.close()
  }
}
