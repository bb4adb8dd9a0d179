import chalk from 'chalk'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {portOffsetFlag} from '../cli/flags.js'
import {renderTable} from '../cli/table.js'
import {type DoctorResult, type DoctorStatus, runDoctor} from '../checks/doctor.js'
import {ExitCode} from '../stack/errors.js'

const mark: Record<DoctorStatus, string> = {
  ok: chalk.green('ok'),
  warn: chalk.yellow('warn'),
  fail: chalk.red('FAIL'),
}

export default class Doctor extends PocCommand {
  static description = `Checks Node.js, the server binaries the native runtime needs (with the Debian package for each), the container engines, Chromium, free disk and the stack's ports. Exits 3 when something the default stack needs is missing.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'What is missing, and how to get it.'},
    {
      command: '<%= config.bin %> <%= command.id %> --port-offset 1000',
      description: 'Check the ports of a shifted stack.',
    },
  ]

  static flags = {
    'port-offset': portOffsetFlag,
  }

  static summary = 'Tell what this machine lacks for poc, and how to get it.'

  async run(): Promise<DoctorResult> {
    const {flags} = await this.parse(Doctor)
    const result = await runDoctor(this.home, {portOffset: flags['port-offset'] ?? 0})
    const rows = result.checks.map((c) => [c.name, mark[c.status], c.detail, c.fix ? chalk.dim(c.fix) : ''])
    for (const line of renderTable(['CHECK', 'STATUS', 'DETAIL', 'FIX'], rows)) this.say(line)
    this.say()
    this.say(
      result.ok
        ? 'Ready: poc up will find what it needs.'
        : 'Missing prerequisites: see FIX above, or run npm run setup.',
    )
    if (!result.ok) process.exitCode = ExitCode.unavailable
    return result
  }
}
