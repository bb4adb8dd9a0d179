import assert from 'node:assert/strict'
import {execa} from 'execa'
import {seedNamesWithUnits} from '../src/services/gateway/metrics.js'
import {findBinary} from '../src/stack/native.js'

/** promtool, from Debian's prometheus package (npm run setup installs it). */
export function promtool(): string {
  const found = findBinary({
    name: 'promtool',
    candidates: ['/usr/bin/promtool'],
    debianPackage: 'prometheus',
    searchPath: true,
  })
  assert.ok(found, 'promtool is not installed: apt-get install prometheus (npm run setup does)')
  return found
}

/** The one complaint promtool may make, and only about the seed's names (see seedNamesWithUnits). */
const seedUnitProblem = (name: string) => `${name} metric names should not contain abbreviated units`

export interface MetricsLint {
  exitCode: number
  /** Every line promtool printed. */
  problems: string[]
  /** Those that are not about a seed name we keep on purpose. */
  unexpected: string[]
  /** promtool's verdict on the exposition without the seed's unit-named families: must be exit 0, silent. */
  withoutSeedNames: {exitCode: number; output: string}
}

/** `promtool check metrics` on an exposition, whole and without the seed's unit-named families. */
export async function lintMetrics(text: string): Promise<MetricsLint> {
  const bin = promtool()
  const whole = await execa(bin, ['check', 'metrics'], {input: text, reject: false, all: true})
  const problems = (whole.all ?? '').split('\n').filter((line) => line.trim() !== '')
  const allowed = new Set(seedNamesWithUnits.map(seedUnitProblem))
  const seedFamilies = new Set(seedNamesWithUnits)
  const rest = text
    .split('\n')
    .filter((line) => {
      const name = /^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1]
      return name === undefined || !seedFamilies.has(name)
    })
    .join('\n')
  const stripped = await execa(bin, ['check', 'metrics'], {input: rest, reject: false, all: true})
  return {
    exitCode: whole.exitCode ?? -1,
    problems,
    unexpected: problems.filter((p) => !allowed.has(p)),
    withoutSeedNames: {exitCode: stripped.exitCode ?? -1, output: (stripped.all ?? '').trim()},
  }
}

/** What a passing lint looks like: nothing but the seed's unit names, and a clean run without them. */
export function assertLintClean(lint: MetricsLint, what: string): void {
  assert.deepEqual(lint.unexpected, [], `promtool check metrics on ${what}:\n${lint.problems.join('\n')}`)
  assert.deepEqual(lint.withoutSeedNames, {exitCode: 0, output: ''}, `${what} without the seed's unit names`)
  // promtool exits 3 for lint problems only; anything else (1: unparsable) is never fine.
  assert.ok(
    lint.exitCode === 0 || (lint.exitCode === 3 && lint.problems.length > 0),
    `${what}: exit ${lint.exitCode}`,
  )
}
