import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {durationFlag} from '../cli/flags.js'
import {renderTable} from '../cli/table.js'
import {type ProduceResult, attachmentBytes, produce, seedTimesheets} from '../checks/produce.js'
import {formatDuration} from '../stack/clock.js'
import {ExitCode} from '../stack/errors.js'
import {runningObjectStore, serviceUrl} from '../stack/running.js'

export default class Produce extends PocCommand {
  static description = `The seed's producer: sends --batch timesheet approvals to pm (POST /timesheets/approve, each with its own Idempotency-Key, cycling TS-001…TS-010) at --rps per second on a fixed schedule, whether or not earlier ones have answered. Then it waits for fi to show every invoice and reports the approve → invoice latency (p50/p99/max, from the events' own timestamps) and how long the backlog took to drain after the last send. Fails (exit 1) when an approval is refused or an invoice does not appear within --wait.

${exitCodesHelp}
  130  interrupted (Ctrl+C)`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: '100 approvals at 50/s, then wait for the invoices.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --batch 500 --rps 200 --json',
      description: 'A heavier run, as JSON for scripts.',
    },
    {command: '<%= config.bin %> <%= command.id %> --no-wait', description: 'Only send; do not wait for fi.'},
    {
      command: '<%= config.bin %> <%= command.id %> --with-attachments --batch 10',
      description:
        'With minio in the stack (poc up --with minio): each approval uploads a 128 KiB payload under timesheets/<id>/ and carries its presigned URL as attachmentUrl.',
    },
  ]

  static flags = {
    batch: Flags.integer({
      default: 100,
      description: 'Approvals to send.',
      env: 'PRODUCER_BATCH',
      min: 1,
      max: 1_000_000,
    }),
    rps: Flags.integer({
      default: 50,
      description: 'Approvals per second.',
      env: 'PRODUCER_RPS',
      min: 1,
      max: 100_000,
    }),
    timesheets: Flags.string({
      description: `Timesheet ids to cycle through (comma-separated; default ${seedTimesheets[0]}…${seedTimesheets.at(-1)}).`,
      delimiter: ',',
      multiple: true,
    }),
    wait: durationFlag({
      default: 60_000,
      defaultHelp: async () => '60s',
      description: 'How long to wait, after the last send, for fi to show every invoice.',
    }),
    'no-wait': Flags.boolean({description: 'Do not wait for the invoices (no end-to-end latency).'}),
    'with-attachments': Flags.boolean({
      description:
        "Upload each approval's large payload to the stack's object storage (timesheets/<id>/<key>.json, needs poc up --with minio) and send its presigned URL as the event's attachmentUrl; fi and pm's invoice show it.",
    }),
    // No `default`: oclif counts a defaulted flag as given, and dependsOn would then refuse every
    // produce without --with-attachments. The default applies in run().
    'attachment-bytes': Flags.integer({
      description: `Size of each payload with --with-attachments (the seed's 128 KiB by default; ${attachmentBytes.min} B to 64 MiB).`,
      min: attachmentBytes.min,
      max: attachmentBytes.max,
      dependsOn: ['with-attachments'],
    }),
  }

  static summary = 'Send timesheet approvals at a fixed rate and measure approve → invoice latency.'

  async run(): Promise<ProduceResult> {
    const {flags} = await this.parse(Produce)
    const pmUrl = await serviceUrl(this.home, 'pm')
    const fiUrl = await serviceUrl(this.home, 'fi')
    const attachments = flags['with-attachments']
      ? {
          store: await runningObjectStore(this.home),
          bytes: flags['attachment-bytes'] ?? attachmentBytes.default,
        }
      : undefined
    const interruption = this.interruption()
    this.say(`Sending ${flags.batch} approvals to ${pmUrl} at ${flags.rps}/s…`)
    let lastVisible: number | undefined
    const result = await produce({
      pmUrl,
      fiUrl,
      batch: flags.batch,
      rps: flags.rps,
      waitMs: flags['no-wait'] ? 0 : flags.wait,
      timesheets: flags.timesheets?.map((t) => t.trim()).filter(Boolean),
      ...(attachments ? {attachments} : {}),
      signal: interruption.signal,
      progress: ({sent, accepted, visible}) => {
        if (visible === undefined) this.say(`  sent ${sent}/${flags.batch}, accepted ${accepted}`)
        else if (visible !== lastVisible) {
          lastVisible = visible
          this.say(`  invoices in fi: ${visible}/${accepted}`)
        }
      },
    }).finally(() => interruption.dispose())

    this.say()
    const rows = [
      [
        'sent',
        `${result.sent} in ${formatDuration(result.sendDurationMs)} (${result.achievedRps}/s, target ${result.targetRps}/s)`,
      ],
      [
        'accepted',
        `${result.accepted}${result.failed > 0 ? `, failed ${result.failed} ${JSON.stringify(result.failures)}` : ''}`,
      ],
      [
        'shards',
        Object.entries(result.shards)
          .sort(([a], [b]) => a.localeCompare(b, 'en', {numeric: true}))
          .map(([s, n]) => `${s}=${n}`)
          .join(' '),
      ],
      ['http ms', `p50 ${result.httpMs.p50}  p99 ${result.httpMs.p99}  max ${result.httpMs.max}`],
    ]
    if (result.attachments) {
      const {bytes, uploaded, uploadMs, bucket} = result.attachments
      rows.push([
        'attachments',
        `${uploaded} × ${bytes} B to ${bucket}/timesheets/, upload ms p50 ${uploadMs.p50}  p99 ${uploadMs.p99}  max ${uploadMs.max}`,
      ])
    }
    if (result.lateSends > 0) rows.push(['late sends', `${result.lateSends} (client at its in-flight cap)`])
    if (result.e2e) {
      const {latencyMs: l, visible, missing, drainMs} = result.e2e
      rows.push(['invoices', `${visible} visible in fi${missing > 0 ? `, ${missing} MISSING` : ''}`])
      rows.push(['approve→invoice ms', `p50 ${l.p50}  p99 ${l.p99}  max ${l.max}`])
      rows.push(['drain after last send', drainMs === null ? 'did not drain' : formatDuration(drainMs)])
    }
    for (const line of renderTable(['', ''], rows).slice(1)) this.say(line)
    for (const sample of result.failureSamples) this.say(`  e.g. ${sample}`)
    if (interruption.signal.aborted) {
      // Ctrl+C: what was sent is reported above; an interrupted run is no failed check (SPEC §5).
      process.exitCode = ExitCode.interrupted
      this.say('Interrupted.')
    } else if (!result.ok) {
      process.exitCode = ExitCode.checkFailed
      this.say('FAILED: not every approval was accepted and invoiced.')
    }
    return result
  }
}
