import {Args} from '@oclif/core'
import {PocCommand} from '../../cli/base-command.js'
import {ExitCode, PocError} from '../../stack/errors.js'
import {UnknownServiceError, runService, serviceNames} from '../../services/run-service.js'

export default class ServiceRun extends PocCommand {
  static args = {
    name: Args.string({description: 'The service to run.', required: true}),
  }

  static description = `Runs one of our services in the foreground with its configuration from environment variables. poc up starts services the same way under every runtime, through the lean entry point bin/service.js <name> (which skips the CLI's start-up); use this command directly only to debug a service.`

  static hidden = true

  static summary = 'Run one service in the foreground (what poc up starts as bin/service.js).'

  async run(): Promise<void> {
    const {args} = await this.parse(ServiceRun)
    try {
      await runService(args.name, process.env)
    } catch (error) {
      if (!(error instanceof UnknownServiceError)) throw error
      throw new PocError(error.message, {
        exitCode: ExitCode.usage,
        suggestions: [`Services available: ${serviceNames.join(', ') || 'none yet'}`],
      })
    }
  }
}
