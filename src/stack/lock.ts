import {mkdir, open, readFile, unlink} from 'node:fs/promises'
import {ExitCode, PocError} from './errors.js'
import type {PocHome} from './home.js'
import {isRunning, readStat} from './proc.js'

/**
 * One mutating command (up, down, reset) at a time per `$POC_HOME`. A lock left by a process
 * that is gone is taken over.
 */
export async function withLock<T>(home: PocHome, action: string, work: () => Promise<T>): Promise<T> {
  await mkdir(home.root, {recursive: true})
  const me = {pid: process.pid, startTicks: readStat(process.pid)?.startTicks ?? 0, action}
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(home.lockFile, 'wx')
      await handle.writeFile(JSON.stringify(me))
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 3) throw error
      const holder = await readHolder(home.lockFile)
      if (holder && isRunning(holder.pid, holder.startTicks)) {
        throw new PocError(`another poc ${holder.action} (pid ${holder.pid}) is working on ${home.root}`, {
          exitCode: ExitCode.unavailable,
          code: 'locked',
          suggestions: ['Wait for it to finish, or stop it with Ctrl+C.'],
        })
      }
      await unlink(home.lockFile).catch(() => undefined)
    }
  }
  try {
    return await work()
  } finally {
    await unlink(home.lockFile).catch(() => undefined)
  }
}

async function readHolder(
  file: string,
): Promise<{pid: number; startTicks: number; action: string} | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as {
      pid?: unknown
      startTicks?: unknown
      action?: unknown
    }
    if (typeof value.pid !== 'number') return undefined
    return {
      pid: value.pid,
      startTicks: typeof value.startTicks === 'number' ? value.startTicks : 0,
      action: typeof value.action === 'string' ? value.action : 'command',
    }
  } catch {
    // A lock file being written right now, or garbage: treat as stale.
    return undefined
  }
}
