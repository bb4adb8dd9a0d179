import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'
import {z} from 'zod'
import {packageRoot} from '../../lib/package-root.js'
import {ExitCode, PocError, errorMessage, usageError} from '../../stack/errors.js'
import type {BenchPhase, SloTargets} from '../../contract/bench.js'

/*
 * Bench profiles in two formats, told apart by their keys:
 * - ours (fixtures/bench/profiles): `phases: [{name, duration_sec, rate | rate_start, rate_end}]`,
 *   `warmup_sec`, `keys: {SYMBOL: weight}`;
 * - the seed's (event-switchyard bench/profiles): `pattern: [{phase, duration_sec, rate |
 *   rate_start, rate_end, interpolation: linear}]`, `events_total`, `warmup: {percent, min_events}`,
 *   `keys: [SYMBOL]` with `keys_distribution: {type: uniform | weighted | zipf, weights}`.
 * Either may carry `slo_targets`. What neither format drives (the seed's payload, reporting,
 * descriptions) is ignored.
 */

export const profilesDir = path.join(packageRoot, 'fixtures', 'bench', 'profiles')
export const profileNames = ['steady', 'burst', 'skew'] as const

export interface BenchProfile {
  name: string
  /** The file, when the profile was given as a path rather than a name. */
  source?: string
  warmupSec: number
  phases: BenchPhase[]
  keys?: Record<string, number>
  sloTargets?: SloTargets
}

const rate = z.number().nonnegative()
const rates = {
  duration_sec: z.number().positive(),
  rate: z.number().positive().optional(),
  rate_start: rate.optional(),
  rate_end: rate.optional(),
}
const hasRate = (p: {rate?: number; rate_start?: number; rate_end?: number}) =>
  p.rate !== undefined || (p.rate_start !== undefined && p.rate_end !== undefined)
const rateMessage = {message: 'a phase needs rate, or rate_start and rate_end'}

const ourPhase = z.object({name: z.string().min(1), ...rates}).refine(hasRate, rateMessage)
const seedPhase = z
  .object({
    phase: z.string().min(1),
    ...rates,
    interpolation: z
      .literal('linear', {errorMap: () => ({message: 'the only interpolation is linear'})})
      .optional(),
  })
  .refine(hasRate, rateMessage)

const sloTargetsSchema = z
  .object({
    fast_path_p99_us: rate.optional(),
    fast_path_p999_us: rate.optional(),
    tail_ratio_max: rate.optional(),
    drop_count: z.number().int().nonnegative().optional(),
    drop_count_max: z.number().int().nonnegative().optional(),
    error_rate_percent: rate.optional(),
    error_rate_percent_max: rate.optional(),
    throughput_min_events_per_sec: rate.optional(),
  })
  // A misspelt target would otherwise be a threshold silently not applied.
  .strict()

const profileSchema = z
  .object({
    name: z.string().min(1),
    warmup_sec: rate.optional(),
    phases: z.array(ourPhase).min(1).optional(),
    keys: z.union([z.record(z.string(), rate), z.array(z.string().min(1)).min(1)]).optional(),
    duration_sec: z.number().positive().optional(),
    events_total: z.number().int().positive().optional(),
    warmup: z
      .object({
        percent: z.number().min(0).max(100).optional(),
        min_events: z.number().int().nonnegative().optional(),
      })
      .optional(),
    pattern: z.array(seedPhase).min(1).optional(),
    keys_distribution: z
      .object({
        type: z.enum(['uniform', 'weighted', 'zipf']),
        weights: z.record(z.string(), rate).optional(),
      })
      .optional(),
    slo_targets: sloTargetsSchema.optional(),
  })
  .refine((p) => p.phases || p.pattern || (p.duration_sec && p.events_total), {
    message: 'a profile needs phases (ours), a pattern (the seed’s), or duration_sec and events_total',
  })
  .refine((p) => !(p.phases && p.pattern), {message: 'a profile has phases or a pattern, not both'})
  .refine((p) => p.keys_distribution?.type !== 'weighted' || p.keys_distribution.weights, {
    message: 'keys_distribution weighted needs weights',
  })

type ProfileFile = z.infer<typeof profileSchema>

const ourDefaultWarmupSec = 2

function phaseOf(
  name: string,
  p: {duration_sec: number; rate?: number; rate_start?: number; rate_end?: number},
) {
  return {
    name,
    duration_sec: p.duration_sec,
    rate_start: p.rate ?? (p.rate_start as number),
    rate_end: p.rate ?? (p.rate_end as number),
  }
}

function phasesOf(data: ProfileFile): BenchPhase[] {
  if (data.phases) return data.phases.map((p) => phaseOf(p.name, p))
  if (data.pattern) return data.pattern.map((p) => phaseOf(p.phase, p))
  // The seed's bench/old/run_canary.sh sends events_total evenly over duration_sec.
  const duration = data.duration_sec as number
  return [phaseOf('steady', {duration_sec: duration, rate: (data.events_total as number) / duration})]
}

function keysOf(data: ProfileFile): Record<string, number> | undefined {
  const distribution = data.keys_distribution
  if (distribution?.type === 'weighted') return distribution.weights
  if (data.keys === undefined) return undefined
  if (!Array.isArray(data.keys)) return data.keys
  // zipf: the first key the most frequent, the k-th at 1/k of it.
  const zipf = distribution?.type === 'zipf'
  return Object.fromEntries(data.keys.map((k, i) => [k, zipf ? Math.round((1 / (i + 1)) * 1000) / 1000 : 1]))
}

/**
 * The warm-up in seconds at the first phase's start rate: ours says it (`warmup_sec`); the seed
 * says it in events, a percentage of events_total but at least min_events.
 */
function warmupOf(data: ProfileFile, phases: BenchPhase[]): number {
  if (data.warmup_sec !== undefined) return data.warmup_sec
  if (data.warmup === undefined) return ourDefaultWarmupSec
  const percentEvents = ((data.warmup.percent ?? 0) / 100) * (data.events_total ?? 0)
  const events = Math.max(Math.ceil(percentEvents), data.warmup.min_events ?? 0)
  const firstRate = Math.max(phases[0]?.rate_start ?? 1, 1)
  return Math.round((events / firstRate) * 1000) / 1000
}

function sloTargetsOf(data: ProfileFile): SloTargets | undefined {
  const t = data.slo_targets
  if (!t) return undefined
  const targets: SloTargets = {
    fast_path_p99_us: t.fast_path_p99_us,
    fast_path_p999_us: t.fast_path_p999_us,
    tail_ratio_max: t.tail_ratio_max,
    drop_count: t.drop_count ?? t.drop_count_max,
    error_rate_percent: t.error_rate_percent ?? t.error_rate_percent_max,
    throughput_min_events_per_sec: t.throughput_min_events_per_sec,
  }
  return Object.fromEntries(Object.entries(targets).filter(([, v]) => v !== undefined)) as SloTargets
}

/** A profile from YAML text in either format; `file` names it in errors. */
export function parseProfile(text: string, file: string): BenchProfile {
  let yaml: unknown
  try {
    yaml = parseYaml(text)
  } catch (error) {
    throw badProfile(file, `it is not YAML: ${errorMessage(error)}`)
  }
  const parsed = profileSchema.safeParse(yaml)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
    throw badProfile(file, `${where}${issue?.message}`)
  }
  const {data} = parsed
  const phases = phasesOf(data)
  const keys = keysOf(data)
  const sloTargets = sloTargetsOf(data)
  return {
    name: data.name,
    warmupSec: warmupOf(data, phases),
    phases,
    ...(keys ? {keys} : {}),
    ...(sloTargets ? {sloTargets} : {}),
  }
}

function badProfile(file: string, why: string): PocError {
  return new PocError(`the bench profile ${file} is invalid: ${why}`, {
    exitCode: ExitCode.unavailable,
    code: 'bad_profile',
  })
}

/** Whether --profile names a file rather than one of ours. */
function isFile(nameOrFile: string): boolean {
  return /[/\\]/.test(nameOrFile) || /\.ya?ml$/i.test(nameOrFile)
}

/** One of ours by name (fixtures/bench/profiles/<name>.yaml), or a profile file in either format. */
export async function loadProfile(nameOrFile: string): Promise<BenchProfile> {
  const given = isFile(nameOrFile)
  if (!given && !(profileNames as readonly string[]).includes(nameOrFile)) {
    throw usageError(`there is no bench profile "${nameOrFile}"`, [
      `Use one of: ${profileNames.join(', ')}, or the path of a profile file (ours or the seed's bench/profiles/*.yaml).`,
    ])
  }
  const file = given ? path.resolve(nameOrFile) : path.join(profilesDir, `${nameOrFile}.yaml`)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new PocError(`cannot read the bench profile ${file}: ${errorMessage(error)}`, {
      exitCode: ExitCode.unavailable,
      code: 'unreadable',
    })
  }
  const profile = parseProfile(text, file)
  return given ? {...profile, source: file} : profile
}

/** The slo_targets of one of our profiles by name, if it is ours and has any. */
export async function shippedSloTargets(name: string): Promise<SloTargets | undefined> {
  if (!(profileNames as readonly string[]).includes(name)) return undefined
  return (await loadProfile(name)).sloTargets
}
