import {Args, Flags} from '@oclif/core'
import chalk from 'chalk'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {parseComponentList} from '../cli/flags.js'
import type {ComponentName} from '../stack/catalog.js'
import {ExitCode, usageError} from '../stack/errors.js'
import {type LogLine, componentsWithLogs, followLogs, parseSince, readLogs} from '../stack/logs.js'

const palette = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.red]

export interface LogsResult {
  lines: LogLine[]
}

export default class Logs extends PocCommand {
  static args = {
    components: Args.string({
      description: 'Components whose logs to show (default: every one that has a log).',
    }),
  }

  static description = `Prints the last lines of each component's log ($POC_HOME/logs/<component>.log), prefixed with the component's name. With -f it keeps following, like tail -f, until Ctrl+C; with --json it prints one JSON object per line.

${exitCodesHelp}
  130  interrupted (Ctrl+C) while following`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'The last 100 lines of every log.'},
    {command: '<%= config.bin %> <%= command.id %> rabbitmq -f', description: 'Follow RabbitMQ.'},
    {
      command: '<%= config.bin %> <%= command.id %> redis --since 10m',
      description: 'What Redis logged in the last 10 minutes.',
    },
  ]

  static flags = {
    follow: Flags.boolean({char: 'f', description: 'Keep printing new lines as they are written.'}),
    since: Flags.string({
      description: 'Only lines written since then: a duration back (30s, 10m, 2h) or a date.',
    }),
    tail: Flags.integer({default: 100, description: 'How many lines of each log to show first.', min: 0}),
  }

  static strict = false

  static summary = 'Show component logs.'

  async run(): Promise<LogsResult | undefined> {
    const {argv, flags} = await this.parse(Logs)
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    if (flags.since !== undefined && !since) {
      throw usageError(`--since expects a duration (30s, 10m, 2h) or a date, got "${flags.since}"`)
    }
    const requested = parseComponentList(argv as string[])
    const components = requested ?? componentsWithLogs(this.home)
    if (components.length === 0) {
      this.say(`No logs yet in ${this.home.logsDir}. Start the stack with: poc up`)
      return {lines: []}
    }
    const width = Math.max(...components.map((c) => c.length))
    const print = (entry: LogLine) => {
      if (this.jsonEnabled()) {
        // NDJSON while following; oclif mutes this.log under --json.
        if (flags.follow) process.stdout.write(`${JSON.stringify(entry)}\n`)
        return
      }
      const colour = palette[components.indexOf(entry.component) % palette.length] ?? chalk.white
      this.log(`${colour(entry.component.padEnd(width))} | ${entry.line}`)
    }
    const lines = await readLogs(this.home, components, {tail: flags.tail, since})
    for (const line of lines) print(line)
    if (!flags.follow) return {lines}

    const controller = new AbortController()
    let interrupted = false
    const interrupt = () => {
      interrupted = true
      controller.abort()
    }
    const stop = () => controller.abort()
    process.once('SIGINT', interrupt)
    process.once('SIGTERM', stop)
    try {
      await followLogs(this.home, components as ComponentName[], print, controller.signal)
    } finally {
      process.off('SIGINT', interrupt)
      process.off('SIGTERM', stop)
    }
    // Ctrl+C ends a follow the way it ends every other long command of poc (SPEC §5: 130).
    if (interrupted) process.exitCode = ExitCode.interrupted
    return undefined
  }
}
