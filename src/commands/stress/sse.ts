import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {durationFlag, durationOrZeroFlag, parseHeaders} from '../../cli/flags.js'
import {defaultStreamUrl, type StressSseResult, stressSse} from '../../checks/stress-sse.js'
import {ExitCode, usageError} from '../../stack/errors.js'

export default class StressSse extends PocCommand {
  static description = `Opens many clients on one server-sent-event stream (pm's /metrics/stream by default) and checks that each gets a complete first event within --timeout. Reports how long connecting and the first event took (p50/p95/p99/max), events received, errors by cause and disconnects. With --duration the clients stay connected that long and the fan-out delay of each broadcast is measured: how much later than the first client every other client got the same event (by its id).

It fails (exit 1) unless the share of clients that succeeded is at least --min-success (1.0: all of them).

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: "25 clients on pm's /metrics/stream."},
    {
      command: '<%= config.bin %> <%= command.id %> --clients 2000 --ramp 2s --timeout 5s',
      description: '2,000 clients started over 2 s, each with 5 s to get its first event.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --clients 500 --duration 30s',
      description: 'Keep 500 clients connected for 30 s and measure the broadcast fan-out delay.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:8081/orders/ORD-0000000001/stream --header "Authorization: Bearer $(poc token --account A)"',
      description: "An order's stream on the gateway (it starts with the order's history).",
    },
  ]

  static flags = {
    clients: Flags.integer({default: 25, description: 'Concurrent clients.', min: 1, max: 20_000}),
    duration: durationFlag({
      description: 'Keep the clients connected this long after the last one started and measure fan-out.',
    }),
    header: Flags.string({description: 'A request header, "Name: value" (repeatable).', multiple: true}),
    iterations: Flags.integer({default: 1, description: 'Repeat the whole run this many times.', min: 1}),
    'min-success': Flags.string({
      default: '1.0',
      description: 'The share of clients (0 to 1) that must get their first event in time.',
    }),
    ramp: durationOrZeroFlag({
      default: 0,
      defaultHelp: async () => '0s',
      description: 'Start the clients evenly over this long instead of all at once.',
    }),
    timeout: durationFlag({
      default: 8000,
      defaultHelp: async () => '8s',
      description: "Each client's limit for connecting and receiving its first event.",
    }),
    url: Flags.string({description: "The stream [default: pm's /metrics/stream of the stack in $POC_HOME]."}),
  }

  static summary = 'Many SSE clients on one stream: does each get its first event in time?'

  async run(): Promise<StressSseResult> {
    const {flags} = await this.parse(StressSse)
    const minSuccess = Number(flags['min-success'])
    if (!(Number.isFinite(minSuccess) && minSuccess >= 0 && minSuccess <= 1)) {
      throw usageError(`--min-success must be a number from 0 to 1, got ${flags['min-success']}`)
    }
    const headers = parseHeaders(flags.header)
    const url = flags.url ?? (await defaultStreamUrl(this.home))
    try {
      new URL(url)
    } catch {
      throw usageError(`--url is not a URL: ${url}`)
    }
    const interruption = this.interruption()
    this.say(
      `${flags.clients} client(s) on ${url}${flags.iterations > 1 ? `, ${flags.iterations} times` : ''} …`,
    )
    let result: StressSseResult
    try {
      result = await stressSse({
        url,
        clients: flags.clients,
        iterations: flags.iterations,
        timeoutMs: flags.timeout,
        rampMs: flags.ramp,
        durationMs: flags.duration,
        minSuccess,
        headers,
        signal: interruption.signal,
        onIteration: (iteration, {succeeded, failed}) => {
          if (flags.iterations > 1) this.say(`  iteration ${iteration}: ${succeeded} ok, ${failed} failed`)
        },
      })
    } catch (error) {
      throw usageError(`cannot stress ${url}: ${(error as Error).message}`)
    } finally {
      interruption.dispose()
    }
    const ms = (p: StressSseResult['connectMs']) =>
      `p50 ${p.p50} ms  p95 ${p.p95}  p99 ${p.p99}  max ${p.max}`
    this.say(`connect      ${ms(result.connectMs)}`)
    this.say(`first event  ${ms(result.firstEventMs)}`)
    if (result.fanout) this.say(`fan-out      ${ms(result.fanout)}  (${result.fanout.events} events)`)
    this.say(`events ${result.eventsReceived}, disconnects ${result.disconnects}`)
    for (const [cause, count] of Object.entries(result.errors)) this.say(`error: ${cause} × ${count}`)
    const verdict = `${result.succeeded} of ${result.attempts} clients got their first event in time (${(result.successRatio * 100).toFixed(1)} %, needed ${(minSuccess * 100).toFixed(1)} %)`
    if (interruption.signal.aborted) {
      process.exitCode = ExitCode.interrupted
      this.say(`Interrupted: ${verdict}.`)
    } else if (result.passed) {
      this.say(`Passed: ${verdict}.`)
    } else {
      process.exitCode = ExitCode.checkFailed
      this.say(`FAILED: ${verdict}.`)
    }
    return result
  }
}
