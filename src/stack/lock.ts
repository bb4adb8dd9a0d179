import {mkdir, open, readFile, stat, unlink} from 'node:fs/promises'
import {ExitCode, PocError} from './errors.js'
import type {PocHome} from './home.js'
import {isRunning, readStat} from './proc.js'

/**
 * Lock files: created exclusively (`wx`) with the holder's pid and start time inside. A lock
 * whose holder is gone (dead, or its pid reused by another program) is taken over; one too
 * young to hold its JSON yet is being written by its creator, and is not stale.
 */
export interface LockHolder {
  pid: number
  startTicks: number
  action: string
}

/** Long enough for a creator to write a few bytes after `open`, even on a loaded machine. */
const writingGraceMs = 5000

/** The holder now: alive, `writing` (just created), or undefined when the lock is free or stale. */
export async function liveLockHolder(file: string): Promise<LockHolder | 'writing' | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const value = JSON.parse(text) as {pid?: unknown; startTicks?: unknown; action?: unknown}
    if (typeof value.pid !== 'number') return undefined
    const holder = {
      pid: value.pid,
      startTicks: typeof value.startTicks === 'number' ? value.startTicks : 0,
      action: typeof value.action === 'string' ? value.action : 'command',
    }
    return isRunning(holder.pid, holder.startTicks) ? holder : undefined
  } catch {
    const age = await stat(file).then(
      (s) => Date.now() - s.mtimeMs,
      () => Infinity,
    )
    return age < writingGraceMs ? 'writing' : undefined
  }
}

/** Takes the lock, or answers who holds it. A stale lock is removed and taken. */
export async function tryLock(file: string, action: string): Promise<'taken' | LockHolder | 'writing'> {
  const me: LockHolder = {pid: process.pid, startTicks: readStat(process.pid)?.startTicks ?? 0, action}
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, 'wx')
      try {
        await handle.writeFile(JSON.stringify(me))
      } finally {
        await handle.close()
      }
      return 'taken'
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 3) throw error
    }
    const holder = await liveLockHolder(file)
    if (holder) return holder
    await unlink(file).catch(() => undefined)
  }
}

export async function releaseLock(file: string): Promise<void> {
  await unlink(file).catch(() => undefined)
}

/** One mutating command (up, down, reset) at a time per `$POC_HOME`. */
export async function withLock<T>(home: PocHome, action: string, work: () => Promise<T>): Promise<T> {
  await mkdir(home.root, {recursive: true})
  const outcome = await tryLock(home.lockFile, action)
  if (outcome !== 'taken') {
    const who =
      outcome === 'writing' ? 'another poc command' : `another poc ${outcome.action} (pid ${outcome.pid})`
    throw new PocError(`${who} is working on ${home.root}`, {
      exitCode: ExitCode.unavailable,
      code: 'locked',
      suggestions: ['Wait for it to finish, or stop it with Ctrl+C.'],
    })
  }
  try {
    return await work()
  } finally {
    await releaseLock(home.lockFile)
  }
}
