import chalk from 'chalk'
import {Listr, type ListrTaskWrapper} from 'listr2'
import type {ComponentName} from '../stack/catalog.js'
import type {Progress, ProgressEvent} from '../stack/stack.js'

/**
 * Shows a stack operation's progress: a listr2 task list on a TTY, plain lines otherwise
 * (CI logs), nothing with --json. `run` returns the work's own result or error.
 */
export interface ProgressView {
  progress: Progress
  run<T>(work: (progress: Progress) => Promise<T>): Promise<T>
}

export function progressView(options: {
  json: boolean
  components: ComponentName[]
  log: (line: string) => void
}): ProgressView {
  if (options.json) return {progress: () => undefined, run: (work) => work(() => undefined)}
  if (!process.stdout.isTTY) return plainView(options.log)
  return taskListView(options.components)
}

function plainView(log: (line: string) => void): ProgressView {
  const progress: Progress = (event) => {
    const text =
      event.message && event.phase !== 'ready'
        ? `${event.phase}: ${event.message}`
        : (event.message ?? event.phase)
    log(`${event.component}: ${text}`)
  }
  return {progress, run: (work) => work(progress)}
}

type Task = ListrTaskWrapper<unknown, never, never>

function taskListView(components: ComponentName[]): ProgressView {
  const listeners = new Map<ComponentName, (event: ProgressEvent) => void>()
  const finishers = new Map<ComponentName, () => void>()
  // listr2 starts its task functions a few ticks after run(): events that come earlier wait here.
  const early = new Map<ComponentName, ProgressEvent[]>()
  // Set when the work has ended: a task that listr2 starts only now (the work failed before any
  // event, e.g. a port taken) is skipped at once instead of waiting for events that never come.
  let closed = false
  const progress: Progress = (event) => {
    const listener = listeners.get(event.component)
    if (listener) listener(event)
    else early.set(event.component, [...(early.get(event.component) ?? []), event])
  }
  const tasks = new Listr(
    components.map((name) => ({
      title: name,
      task: (_ctx: unknown, task: Task) =>
        new Promise<void>((settle, fail) => {
          let settled = false
          const resolve = () => {
            settled = true
            settle()
          }
          const reject = (error: Error) => {
            settled = true
            fail(error)
          }
          finishers.set(name, () => {
            if (settled) return
            task.skip(`${name}: not started`)
            resolve()
          })
          if (closed) {
            finishers.get(name)?.()
            return
          }
          listeners.set(name, (event) => {
            switch (event.phase) {
              case 'checking':
              case 'starting':
              case 'stopping':
                task.title = `${name} ${chalk.dim(event.phase)}`
                break
              case 'preparing':
                task.title = `${name} ${chalk.dim(event.message ?? event.phase)}`
                break
              case 'ready':
              case 'unchanged':
              case 'stopped':
                task.title = `${name} ${chalk.dim(event.message ?? event.phase)}`
                resolve()
                break
              case 'skipped':
                task.skip(`${name}: ${event.message ?? 'skipped'}`)
                resolve()
                break
              case 'failed':
                reject(new Error(event.message ?? `${name} failed`))
                break
            }
          })
          for (const event of early.get(name) ?? []) listeners.get(name)?.(event)
          early.delete(name)
        }),
    })),
    {concurrent: true, exitOnError: false, registerSignalListeners: false},
  )
  return {
    progress,
    run: async (work) => {
      const rendering = tasks.run().catch(() => undefined)
      try {
        return await work(progress)
      } finally {
        closed = true
        for (const finish of finishers.values()) finish()
        await rendering
      }
    },
  }
}
