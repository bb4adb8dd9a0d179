import {mkdir, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {durationFlag, durationOrZeroFlag, parseHeaders} from '../cli/flags.js'
import {profileNames, runBench} from '../checks/bench/bench.js'
import type {BenchResult, Measurement} from '../contract/bench.js'
import {ExitCode, usageError} from '../stack/errors.js'

/** What `poc bench --json` prints: the result and where it was written. */
export interface BenchCommandResult {
  out: string
  html?: string
  baseline?: string
  result: BenchResult
}

export default class Bench extends PocCommand {
  static description = `Puts open-model HTTP load on the order gateway's POST /orders (valid tokens, a unique Idempotency-Key per order) and writes a bench.v1 result for poc gate. The result follows fixtures/schemas/bench.v1.schema.json and both of the seed's bench schemas (fixtures/schemas/seed/: contracts/bench.v1.schema.json and contracts/bench/v1/schema.json), so the seed's gates read it too; it carries the strict SLO verdict (slo_compliance) until poc gate judges it again.

Requests leave at the profile's arrival rate whether or not earlier ones were answered; each one's latency is measured from the time it was meant to leave (coordinated omission corrected) and from the time it left (raw), in HDR histograms. The warm-up is not measured. Requests sent more than 10 ms late (the generator fell behind) and requests not sent because too many were waiting are counted. Unsent requests are a figure of their own, not errors: the error rate is of the requests sent. A run stopped with Ctrl+C is still written, marked measurement.interrupted, with the time it really lasted (its throughput divides by that), and exits 130. A run in which more than 1 % of the requests due were sent late or not at all measured the generator, not the server: it is marked measurement.valid false. poc gate fails both as invalid measurements, and --bless never stores either (exit 1 when it refuses).

The gateway's own fast-path, WAL and durable-ack percentiles are read from its histograms before and after the measured window, so they cover exactly this run.

Profiles (fixtures/bench/profiles): steady (1,000/s for 60 s), burst (ramp 10 s, burst 20 s at 4,000/s, ramp down 10 s, recovery 20 s), skew (1,000/s with BTC 70 %, ETH 15, XRP 10, SOL 3, ADA 2, and the seed's skew slo_targets: p99 150 µs, tail ratio 15). --profile also takes a profile file, ours or the seed's (its bench/profiles/*.yaml: pattern phases such as ramp_up with rate or rate_start/rate_end, events_total and warmup in events, keys with keys_distribution, slo_targets), read as it is. --duration stretches a profile; --rate scales its peak, or alone runs a constant rate.

${exitCodesHelp}`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'The steady profile against the running gateway.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --profile burst --duration 30s --html bench.html',
      description: 'The burst profile squeezed into 30 s, with an HTML report.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --rate 5000 --duration 20s --out results/bench.json && <%= config.bin %> gate --in results/bench.json',
      description: '5,000 orders/s for 20 s, then the SLO gate.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:3001/health --rate 2000 --duration 10s',
      description: 'Any HTTP endpoint (client-side figures only).',
    },
  ]

  static flags = {
    bless: Flags.boolean({
      description:
        'Also store the result as the baseline of this runner (bench/baselines/<RUNNER_LABEL>.json).',
    }),
    body: Flags.string({
      description: 'Request body for --url (implies POST unless --method says otherwise).',
    }),
    connections: Flags.integer({
      default: 64,
      description: 'HTTP connections to the target.',
      min: 1,
      max: 4096,
    }),
    duration: durationFlag({
      description: 'Total measured time: stretches the profile, or the constant run (default 30s).',
    }),
    header: Flags.string({
      description: 'An extra request header, "Name: value" (repeatable).',
      multiple: true,
    }),
    html: Flags.string({
      description: 'Also write a self-contained HTML report with the latency percentile plot.',
    }),
    method: Flags.string({description: 'HTTP method for --url [default: GET, or POST with --body].'}),
    out: Flags.string({
      description: 'Where to write the JSON result [default: $POC_HOME/results/bench-<time>.json].',
    }),
    profile: Flags.string({
      description: `The load shape: ${profileNames.join(', ')}, or a profile file (ours or the seed's bench/profiles/*.yaml).`,
    }),
    rate: Flags.integer({
      description: 'Requests per second: a constant run, or the peak a profile is scaled to.',
      min: 1,
    }),
    warmup: durationOrZeroFlag({
      description: "Unmeasured lead-in at the first phase's rate [default: the profile's, 2s].",
    }),
    url: Flags.string({description: "Load this URL instead of the gateway's POST /orders."}),
  }

  static summary =
    'Open-model load on the gateway (or any URL), coordinated-omission corrected, as bench.v1 JSON.'

  async run(): Promise<BenchCommandResult> {
    const {flags} = await this.parse(Bench)
    const headers = parseHeaders(flags.header)
    if ((flags.body !== undefined || flags.method !== undefined) && flags.url === undefined) {
      throw usageError('--body and --method aim the load at --url; the gateway gets orders')
    }
    const runnerLabel = process.env.RUNNER_LABEL || os.hostname()
    const interruption = this.interruption()
    let result: BenchResult
    try {
      result = await runBench(
        {
          profile: flags.profile,
          rate: flags.rate,
          durationSec: flags.duration === undefined ? undefined : flags.duration / 1000,
          warmupSec: flags.warmup === undefined ? undefined : flags.warmup / 1000,
          connections: flags.connections,
          url: flags.url,
          method: flags.method,
          body: flags.body,
          headers,
          runnerLabel,
        },
        {
          home: this.home,
          signal: interruption.signal,
          onProgress: ({elapsedSec, totalSec, sent, inflight}) =>
            this.say(
              `  ${elapsedSec.toFixed(0)}/${totalSec.toFixed(0)} s: ${sent} sent, ${inflight} waiting`,
            ),
        },
      )
    } finally {
      interruption.dispose()
    }

    const out = path.resolve(
      flags.out ??
        path.join(this.home.root, 'results', `bench-${result.timestamp.replaceAll(':', '-')}.json`),
    )
    await writeJson(out, result)
    const written: BenchCommandResult = {out, result}
    if (flags.html) {
      const {renderHtmlReport} = await import('../checks/bench/html-report.js')
      written.html = path.resolve(flags.html)
      await mkdir(path.dirname(written.html), {recursive: true})
      await writeFile(written.html, renderHtmlReport(result))
    }
    const measurement = result.measurement as Measurement
    if (flags.bless && measurement.valid) {
      written.baseline = path.resolve('bench', 'baselines', `${runnerLabel}.json`)
      await writeJson(written.baseline, result)
    }
    this.summarize(result, written)
    if (!measurement.valid) {
      this.warn(
        `not a valid measurement: ${measurement.invalid_reasons.join('; ')}. poc gate fails it${flags.bless ? ', and it was not blessed as the baseline' : ''}.`,
      )
    }
    if (interruption.signal.aborted) process.exitCode = ExitCode.interrupted
    else if (flags.bless && !measurement.valid) process.exitCode = ExitCode.checkFailed
    return written
  }

  private summarize(result: BenchResult, written: BenchCommandResult): void {
    const {http, summary, fast_path: fastPath, persistence_queue: wal} = result.metrics
    const us = (p: {p50: number; p99: number; p999: number}) =>
      `p50 ${p.p50} µs  p99 ${p.p99}  p999 ${p.p999}`
    const m = result.measurement
    const span = m?.interrupted ? `, INTERRUPTED after ${m.elapsed_sec} of ${m.planned_sec} s` : ''
    this.say(
      `${result.profile.label ?? result.profile.name}: ${http.requests} requests at ${http.achieved_rate}/s (target ${http.target_rate}/s) to ${result.profile.target}${span}`,
    )
    this.say(
      `  answers      ${
        Object.entries(http.status_counts)
          .map(([s, n]) => `${s} × ${n}`)
          .join(', ') || 'none'
      }; errors ${http.errors}, late ${http.late_sends}, unsent ${http.unsent}${m ? ` (schedule missed ${m.schedule_miss_percent} %)` : ''}`,
    )
    this.say(`  corrected    ${us(http.corrected_latency_us)}  max ${http.corrected_latency_us.max}`)
    this.say(`  raw          ${us(http.raw_latency_us)}  max ${http.raw_latency_us.max}`)
    if (fastPath) this.say(`  fast path    ${us(fastPath.process_latency_us)}  drops ${fastPath.drop_count}`)
    if (wal?.durable_ack_latency_us) this.say(`  durable ack  ${us(wal.durable_ack_latency_us)}`)
    this.say(
      `  throughput ${summary.throughput_events_per_sec}/s, error rate ${summary.error_rate_percent} %${summary.tail_ratio === undefined ? '' : `, tail ratio ${summary.tail_ratio}`}`,
    )
    const slo = result.slo_compliance
    if (slo) {
      const failed = slo.checks.filter((c) => !c.passed && c.severity !== 'info').map((c) => c.name)
      this.say(
        `  SLO (${slo.profile}${result.profile.slo_targets ? `, the ${result.profile.label ?? result.profile.name} profile's slo_targets` : ''}): ${slo.status}${failed.length > 0 ? ` (${failed.join(', ')})` : ''}; poc gate judges it with other thresholds`,
      )
    }
    this.say(
      `Result: ${written.out}${written.html ? `\nHTML report: ${written.html}` : ''}${written.baseline ? `\nBaseline: ${written.baseline}` : ''}`,
    )
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`)
}
