import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {findBroker} from '../../stack/broker.js'
import {errorMessage} from '../../stack/errors.js'
import type {PocHome} from '../../stack/home.js'
import {lastLines} from '../../stack/log-tail.js'
import {componentsWithLogs} from '../../stack/logs.js'
import {toJUnit} from './junit.js'
import type {Evidence, SmokeFile, SmokeReport} from './types.js'

const logLines = 200

/**
 * What a failed run leaves for whoever investigates: the report and JUnit XML, the last lines
 * of every component's log, the broker's queue depths and the last HTTP exchanges, in a
 * directory of its own under `dir`. Answers that directory.
 */
export async function writeFailureArtifacts(
  dir: string,
  report: SmokeReport,
  context: {home: PocHome; responses: Evidence[]; files?: SmokeFile[]},
): Promise<string> {
  const runDir = path.join(dir, `${report.startedAt.replaceAll(':', '').replace(/\..*/, '')}-${report.runId}`)
  await mkdir(path.join(runDir, 'logs'), {recursive: true})
  await writeFile(path.join(runDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(path.join(runDir, 'junit.xml'), toJUnit([report]))
  for (const component of componentsWithLogs(context.home)) {
    const lines = await lastLines(context.home.logFile(component), logLines).catch(() => [])
    await writeFile(path.join(runDir, 'logs', `${component}.log`), lines.map((l) => `${l}\n`).join(''))
  }
  await writeFile(
    path.join(runDir, 'queues.json'),
    `${JSON.stringify(await queueDepths(context.home), null, 2)}\n`,
  )
  await writeFile(path.join(runDir, 'responses.json'), `${JSON.stringify(context.responses, null, 2)}\n`)
  for (const file of context.files ?? []) {
    // A scenario names its files; they never leave the run's directory.
    const target = path.join(runDir, path.normalize(file.name).replace(/^(\.\.(\/|$))+/, ''))
    if (!target.startsWith(runDir + path.sep)) continue
    await mkdir(path.dirname(target), {recursive: true})
    await writeFile(target, file.data)
  }
  return runDir
}

async function queueDepths(home: PocHome): Promise<unknown> {
  try {
    const broker = await findBroker(home, 'smoke')
    return {queues: await broker.queues()}
  } catch (error) {
    return {error: `queue depths unavailable: ${errorMessage(error)}`}
  }
}
