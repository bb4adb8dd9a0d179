import {z} from 'zod'
import {ExitCode, PocError} from '../../stack/errors.js'
import type {BenchResult} from '../../contract/bench.js'
import {type BenchShape, detectShape, formatSchemaError} from './schemas.js'

/**
 * What `poc gate --baseline` compares with:
 * - a bench result of any of the three shapes (ours, as `poc bench --bless` stores it; the seed's
 *   either schema, such as its baseline/seed.json): its fast-path p99 (`latency_us.p99` for the
 *   seed's contracts/bench/v1);
 * - the seed's perf-gate baseline (baseline/perf_gate_rust*.json, written by its
 *   scripts/ops/old/perf_gate.py): `bench.p99_us`, an HTTP round-trip p99 measured by its client,
 *   which is compared with our client's raw round-trip p99.
 */
export type BaselineKind = BenchShape | 'seed-perf-gate'

export interface Baseline {
  file: string
  kind: BaselineKind
  /** What the baseline's p99 measures, and so which of the result's it is compared with. */
  latency: 'fast_path' | 'round_trip'
  /** Where the p99 is in the baseline file. */
  metric: string
  p99Us: number | undefined
  /** Who or what the baseline is of, for messages: a runner label, an environment, a date. */
  label: string
  runnerLabel?: string
  /** The seed's tools/old/gate.py compares a baseline only of the same case and env. */
  case?: string
  env?: string
}

const perfGateBaseline = z
  .object({
    bench: z
      .object({
        p99_us: z.number().nonnegative(),
        p50_us: z.number().nonnegative().optional(),
        max_us: z.number().nonnegative().optional(),
        throughput_rps: z.number().nonnegative().optional(),
      })
      .passthrough(),
    wrk: z.object({}).passthrough().optional(),
    updated_at: z.string().optional(),
  })
  .passthrough()

const fastPathP99 = 'metrics.fast_path.process_latency_us.p99'

function numberAt(value: unknown, dotted: string): number | undefined {
  let at: unknown = value
  for (const key of dotted.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<string, unknown>)[key]
  }
  return typeof at === 'number' && Number.isFinite(at) ? at : undefined
}

const stringAt = (value: Record<string, unknown>, key: string) =>
  typeof value[key] === 'string' ? (value[key] as string) : undefined

/** The baseline in a parsed file, or exit 3 when it is none of the kinds poc compares with. */
export function baselineOf(document: unknown, file: string): Baseline {
  const detection = detectShape(document)
  if (detection.ok) {
    const doc = document as Record<string, unknown>
    const identity = {case: stringAt(doc, 'case'), env: stringAt(doc, 'env')}
    if (detection.shape === 'poc') {
      const result = document as BenchResult
      const m = result.measurement
      if (m && !m.valid) {
        throw new PocError(
          `the baseline ${file} is not a valid measurement, so there is nothing to compare with`,
          {
            exitCode: ExitCode.unavailable,
            code: 'baseline_invalid',
            details: m.invalid_reasons,
            suggestions: [
              'Bless a run that ran to its end on schedule (poc bench --bless), or leave --baseline out.',
            ],
          },
        )
      }
      const runner = result.environment.runner_label
      return {
        file,
        kind: 'poc',
        latency: 'fast_path',
        metric: fastPathP99,
        p99Us: numberAt(result, fastPathP99),
        label: `runner ${runner}`,
        runnerLabel: runner,
        ...identity,
      }
    }
    if (detection.shape === 'seed-v1') {
      const environment = doc.environment as Record<string, unknown>
      const commit = stringAt(environment, 'git_commit')
      return {
        file,
        kind: 'seed-v1',
        latency: 'fast_path',
        metric: fastPathP99,
        p99Us: numberAt(doc, fastPathP99),
        label: `the seed's ${String(environment.type)} environment${commit ? ` at ${commit.slice(0, 7)}` : ''}`,
        ...identity,
      }
    }
    return {
      file,
      kind: 'seed-bench-v1',
      latency: 'fast_path',
      metric: 'metrics.latency_us.p99',
      p99Us: numberAt(doc, 'metrics.latency_us.p99'),
      label: `the seed's case ${identity.case}, env ${identity.env}`,
      ...identity,
    }
  }
  const perfGate = perfGateBaseline.safeParse(document)
  if (perfGate.success) {
    const updated = perfGate.data.updated_at
    return {
      file,
      kind: 'seed-perf-gate',
      latency: 'round_trip',
      metric: 'bench.p99_us',
      p99Us: perfGate.data.bench.p99_us,
      label: `the seed's perf-gate baseline${updated ? ` of ${updated}` : ''}`,
    }
  }
  throw new PocError(
    `the baseline ${file} is neither a bench result (poc's, or either of the seed's schemas) nor the seed's perf-gate baseline ({"bench": {"p99_us": …}}), so there is nothing to compare with`,
    {
      exitCode: ExitCode.unavailable,
      code: 'baseline_invalid',
      details: [`against ${detection.schemaFile}:`, ...detection.errors.map(formatSchemaError)],
      suggestions: ['Bless a fresh run as the baseline (poc bench --bless), or leave --baseline out.'],
    },
  )
}
