import {Args, Flags} from '@oclif/core'
import chalk from 'chalk'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {parseComponentList} from '../cli/flags.js'
import type {ComponentName} from '../stack/catalog.js'
import {ExitCode, usageError} from '../stack/errors.js'
import {formatLogLine} from '../cli/log-view.js'
import {type LogLine, componentsWithLogs, followLogs, parseSince, readLogs} from '../stack/logs.js'

const palette = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.red]

export default class Logs extends PocCommand {
  static args = {
    components: Args.string({
      description: 'Components whose logs to show (default: every one that has a log).',
    }),
  }

  static description = `Prints the last lines of each component's log ($POC_HOME/logs/<component>.log), merged in the order they were written: the component's name, the time (local, from the line itself; a line without one, such as a stack trace, goes with the line before it), then the line. Our services' JSON (pino) lines are shown as level, message and key=value fields. With -f it keeps following, like tail -f, until Ctrl+C.

With --json, with or without -f, it prints one JSON object per line (NDJSON): {component, time, line}, plus level and message for a pino line; time is ISO 8601 or null.

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

  async run(): Promise<undefined> {
    const {argv, flags} = await this.parse(Logs)
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    if (flags.since !== undefined && !since) {
      throw usageError(`--since expects a duration (30s, 10m, 2h) or a date, got "${flags.since}"`)
    }
    const requested = parseComponentList(argv as string[])
    const components = requested ?? componentsWithLogs(this.home)
    if (components.length === 0) {
      this.say(`No logs yet in ${this.home.logsDir}. Start the stack with: poc up`)
      return undefined
    }
    const width = Math.max(...components.map((c) => c.length))
    const print = (entry: LogLine) => {
      if (this.jsonEnabled()) {
        // NDJSON, one object per line, with or without -f (oclif mutes this.log under --json).
        process.stdout.write(`${JSON.stringify(entry)}\n`)
        return
      }
      const colour = palette[components.indexOf(entry.component) % palette.length] ?? chalk.white
      this.log(formatLogLine(entry, width, colour))
    }
    const lines = await readLogs(this.home, components, {tail: flags.tail, since})
    for (const line of lines) print(line)
    if (!flags.follow) return undefined

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
