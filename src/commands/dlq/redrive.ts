import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {renderTable} from '../../cli/table.js'
import {type DlqRedriveResult, redriveDeadLetters} from '../../stack/dlq.js'

export default class DlqRedrive extends PocCommand {
  static description = `Moves dead letters back to the queue they were dead-lettered from (shard.{i}.dead to shard.{i}, fi.inbox.dead to fi.inbox, …), keeping their message id, content type and headers, without the broker's x-death record. Each message leaves its dead-letter queue only after the broker confirmed its copy, so an interruption loses nothing (at worst a message is delivered twice, which the consumers ignore). At most the messages present when it starts are moved, so a consumer that rejects them again cannot make it loop.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Redrive every dead-letter queue.'},
    {
      command: '<%= config.bin %> <%= command.id %> --shard 2',
      description: 'Only shard.2.dead, back into shard.2.',
    },
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'Report what moved as JSON.'},
  ]

  static flags = {
    shard: Flags.integer({description: 'Only the dead letters of this shard (shard.{i}.dead).'}),
  }

  static summary = 'Move dead letters back to their queues.'

  async run(): Promise<DlqRedriveResult> {
    const {flags} = await this.parse(DlqRedrive)
    const result = await redriveDeadLetters({shard: flags.shard}, {home: this.home})
    for (const report of result.moved) {
      if (report.skipped) this.warn(`left the dead letters of ${report.queue} in place: ${report.skipped}`)
    }
    if (result.moved.length === 0) {
      this.say('No dead-letter queues exist yet: the services declare them when they start.')
      return result
    }
    const rows = result.moved.map((r) => [r.queue, r.source, String(r.moved)])
    for (const line of renderTable(['QUEUE', 'SOURCE', 'MOVED'], rows)) this.say(line)
    this.say()
    this.say(
      result.total === 0
        ? 'No dead letters to move.'
        : `Moved ${result.total} dead letter(s) back to their queues.`,
    )
    return result
  }
}
