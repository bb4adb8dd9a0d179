import chalk from 'chalk'
import {Listr} from 'listr2'
import type {SmokeProgress} from '../checks/smoke/run.js'
import type {Scenario, ScenarioResult} from '../checks/smoke/types.js'
import {formatDuration} from '../stack/clock.js'

export interface SmokeView {
  progress(event: SmokeProgress): void
  /** Called after each run: waits for the task list to finish drawing. */
  endRun(): Promise<void>
}

/**
 * The scenarios as they run: a listr2 task list on a TTY, one plain line per scenario
 * otherwise (CI logs), nothing with --json.
 */
export function smokeView(options: {
  json: boolean
  scenarios: Scenario[]
  log: (line: string) => void
}): SmokeView {
  if (options.json) return {progress: () => undefined, endRun: async () => undefined}
  if (!process.stdout.isTTY) {
    return {
      progress: (event) => {
        if (event.phase === 'done') options.log(resultLine(event.result))
      },
      endRun: async () => undefined,
    }
  }
  return taskListView(options.scenarios)
}

/** One scenario's outcome; the live task list draws its own ✔/✖/↓, so it asks for the line without one. */
export function resultLine(result: ScenarioResult, options: {symbol: boolean} = {symbol: true}): string {
  const name = `${result.number} ${result.id}`
  const time = chalk.dim(`(${formatDuration(result.durationMs)})`)
  const mark = (symbol: string) => (options.symbol ? `${symbol} ` : '')
  switch (result.status) {
    case 'passed':
      return `${mark(chalk.green('✔'))}${name} ${time}${result.summary ? ` ${chalk.dim(result.summary)}` : ''}`
    case 'failed':
      return `${mark(chalk.red('✖'))}${name} ${time} ${chalk.red(result.reason ?? 'failed')}`
    case 'skipped':
      return `${mark(chalk.yellow('↓'))}${name} ${chalk.dim(`skipped: ${result.reason ?? ''}`)}`
  }
}

function taskListView(scenarios: Scenario[]): SmokeView {
  let settle = new Map<string, (result: ScenarioResult | undefined) => void>()
  let rendering: Promise<unknown> | undefined

  const start = () => {
    const results = new Map<string, Promise<ScenarioResult | undefined>>()
    settle = new Map()
    for (const scenario of scenarios) {
      results.set(scenario.id, new Promise((resolve) => settle.set(scenario.id, resolve)))
    }
    const tasks = new Listr(
      scenarios.map((scenario) => ({
        title: `${scenario.number} ${scenario.id} ${chalk.dim(scenario.title)}`,
        task: async (_ctx: unknown, task: {title: string; skip(message?: string): void}) => {
          const result = await results.get(scenario.id)
          if (!result) return task.skip(`${scenario.number} ${scenario.id}: not run`)
          const line = resultLine(result, {symbol: false})
          if (result.status === 'skipped') return task.skip(line)
          if (result.status === 'failed') throw new Error(line)
          task.title = line
        },
      })),
      {concurrent: false, exitOnError: false, registerSignalListeners: false},
    )
    rendering = tasks.run().catch(() => undefined)
  }

  return {
    progress: (event) => {
      if (!rendering) start()
      if (event.phase === 'done') settle.get(event.scenario.id)?.(event.result)
    },
    endRun: async () => {
      for (const resolve of settle.values()) resolve(undefined)
      await rendering
      rendering = undefined
    },
  }
}
