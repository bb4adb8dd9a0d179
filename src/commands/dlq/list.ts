import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {renderTable} from '../../cli/table.js'
import {type DlqListResult, listDeadLetters} from '../../stack/dlq.js'

export default class DlqList extends PocCommand {
  static description = `Lists every dead-letter queue of the running stack's RabbitMQ (shard.{i}.dead and each service inbox's <queue>.dead) with its depth, the queue its messages came from, and the first messages of each: event id, type, key, and why and how often it was dead-lettered. The messages are looked at, not consumed: they stay where they are, in their order.

${exitCodesHelp}`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'Every dead-letter queue and its first 5 messages.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --shard 1 --limit 20',
      description: 'Only shard.1.dead, with up to 20 messages.',
    },
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'The same as JSON, for scripts.'},
  ]

  static flags = {
    limit: Flags.integer({
      default: 5,
      description: 'How many messages of each queue to show.',
      max: 100,
      min: 0,
    }),
    shard: Flags.integer({description: 'Only the dead letters of this shard (shard.{i}.dead).'}),
  }

  static summary = 'Show the dead letters and where they came from.'

  async run(): Promise<DlqListResult> {
    const {flags} = await this.parse(DlqList)
    const result = await listDeadLetters({shard: flags.shard, limit: flags.limit}, {home: this.home})
    if (result.queues.length === 0) {
      this.say('No dead-letter queues exist yet: the services declare them when they start.')
      return result
    }
    const queueRows = result.queues.map((q) => [q.queue, q.source, String(q.messages)])
    for (const line of renderTable(['QUEUE', 'SOURCE', 'MESSAGES'], queueRows)) this.say(line)
    for (const q of result.queues.filter((queue) => queue.sample.length > 0)) {
      this.say()
      this.say(`${q.queue}: the first ${q.sample.length} of ${q.messages}`)
      const rows = q.sample.map((m) => [
        m.eventId ?? '-',
        m.type ?? '-',
        m.key ?? '-',
        m.reason ?? '-',
        m.deaths === undefined ? '-' : String(m.deaths),
      ])
      for (const line of renderTable(['EVENT ID', 'TYPE', 'KEY', 'REASON', 'DEATHS'], rows)) this.say(line)
    }
    this.say()
    this.say(
      result.total === 0
        ? 'No dead letters.'
        : `${result.total} dead letter(s). Move them back with: poc dlq redrive${flags.shard === undefined ? '' : ` --shard ${flags.shard}`}`,
    )
    return result
  }
}
