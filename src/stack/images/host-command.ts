import {spawn} from 'node:child_process'
import {ExitCode, PocError} from '../errors.js'

/**
 * The host tools an image build runs (debootstrap, chroot, cp, tar, npm): each in its own
 * process group, so an abort stops the whole tree (debootstrap's dpkg and wget included), with
 * the tail of its output in the error when it fails.
 */

export interface RunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

const keptOutputBytes = 64 * 1024
const killGraceMs = 5000

export function interruptedError(what: string): PocError {
  return new PocError(`interrupted while ${what}; nothing half-built was kept`, {
    exitCode: ExitCode.interrupted,
    code: 'interrupted',
  })
}

/** Runs a command to completion; answers its output (stdout and stderr interleaved, the last 64 KiB). */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const {signal} = options
  const shown = [command, ...args].join(' ')
  if (signal?.aborted) return Promise.reject(interruptedError(shown))
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const keep = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (output.length > keptOutputBytes * 2) output = output.slice(-keptOutputBytes)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    let killTimer: NodeJS.Timeout | undefined
    const kill = (name: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, name)
      } catch {
        // The group is gone already.
      }
    }
    const onAbort = () => {
      kill('SIGTERM')
      killTimer = setTimeout(() => kill('SIGKILL'), killGraceMs)
      killTimer.unref()
    }
    signal?.addEventListener('abort', onAbort, {once: true})
    child.on('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort)
      reject(
        error.code === 'ENOENT'
          ? new PocError(`${command} is not installed (or not on PATH)`, {
              exitCode: ExitCode.unavailable,
              code: 'missing_binary',
              suggestions: [`Install it, then run the command again (building images needs: ${command}).`],
            })
          : error,
      )
    })
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort)
      if (killTimer) clearTimeout(killTimer)
      if (signal?.aborted) return reject(interruptedError(shown))
      if (code === 0) return resolve(output.slice(-keptOutputBytes))
      const tail = output.trimEnd().split('\n').slice(-20)
      reject(
        new PocError(`${shown} failed (${killedBy ? `killed by ${killedBy}` : `exit code ${code}`})`, {
          exitCode: ExitCode.unavailable,
          code: 'image_build_failed',
          details: tail.length > 0 && tail[0] !== '' ? ['last lines of its output:', ...tail] : [],
        }),
      )
    })
  })
}
