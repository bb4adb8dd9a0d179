import {createInterface} from 'node:readline/promises'
import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {renderTable} from '../cli/table.js'
import {formatDuration} from '../stack/clock.js'
import {ExitCode, PocError, usageError} from '../stack/errors.js'
import {type ResetResult, resetStack} from '../stack/reset.js'

export default class Reset extends PocCommand {
  static description = `Puts the stack in $POC_HOME back to its starting data: pm to its seed data, fi's read model emptied, credit's order states emptied, contract to its seed contracts, every queue and dead-letter queue purged, the idempotency keys (idemp:*) deleted from Redis. A running stack is reset through its admin endpoints, AMQP and Redis, and keeps running; a stopped one by deleting those components' data files, so they start afresh. Logs, telemetry and Prometheus data are kept. Running it twice is the same as once.

It asks for confirmation on a terminal; elsewhere (CI, scripts) pass --yes.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Reset after confirming.'},
    {
      command: '<%= config.bin %> <%= command.id %> --yes --json',
      description: 'In a script: no question, JSON result.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --yes --with-minio --gateway',
      description: "Also clear MinIO's compliance/ and timesheets/ and the gateway's WAL and audit chain.",
    },
  ]

  static flags = {
    gateway: Flags.boolean({description: "Also reset the order gateway's WAL and audit chain."}),
    'with-minio': Flags.boolean({
      description: 'Also clear compliance/ and timesheets/ in every MinIO bucket.',
    }),
    yes: Flags.boolean({
      char: 'y',
      description: 'Do not ask for confirmation (required when stdin is not a terminal).',
    }),
  }

  static summary = 'Reset the stack to its seed data.'

  async run(): Promise<ResetResult> {
    const {flags} = await this.parse(Reset)
    const home = this.home
    if (!flags.yes) {
      if (!process.stdin.isTTY) {
        throw usageError('poc reset deletes data and stdin is not a terminal to confirm it: pass --yes')
      }
      if (!(await this.confirm(`Reset the stack at ${home.root}? [y/N] `))) {
        this.say('Nothing reset.')
        return {home: home.root, durationMs: 0, steps: [], warnings: []}
      }
    }
    const result = await resetStack({withMinio: flags['with-minio'], gateway: flags.gateway}, {home})
    for (const warning of result.warnings) this.warn(warning)
    const rows = result.steps.map((s) => [s.component, s.mode, s.action, chalk.dim(s.detail ?? '')])
    for (const line of renderTable(['COMPONENT', 'MODE', 'ACTION', 'DETAIL'], rows)) this.say(line)
    this.say()
    this.say(`Reset ${result.home} in ${formatDuration(result.durationMs)}.`)
    return result
  }

  /** The question goes to stderr, so stdout stays the result's alone (--json). */
  private async confirm(question: string): Promise<boolean> {
    const prompt = createInterface({input: process.stdin, output: process.stderr})
    const interrupted = new AbortController()
    // On a terminal, readline takes Ctrl+C as input; without this it would wait forever.
    prompt.on('SIGINT', () => interrupted.abort())
    try {
      return /^y(es)?$/i.test((await prompt.question(question, {signal: interrupted.signal})).trim())
    } catch {
      throw new PocError('interrupted: nothing reset', {exitCode: ExitCode.interrupted, code: 'interrupted'})
    } finally {
      prompt.close()
    }
  }
}
