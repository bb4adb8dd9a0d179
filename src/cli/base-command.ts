import {Command, Errors} from '@oclif/core'
import chalk from 'chalk'
import {PocError, errorMessage} from '../stack/errors.js'
import {type PocHome, resolveHome} from '../stack/home.js'

if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') chalk.level = 0

/**
 * What every poc command shares: `--json`, the stack's home, and errors rendered as one
 * sentence with what to do next — never a stack trace (set DEBUG=poc to see one).
 */
export abstract class PocCommand extends Command {
  static enableJsonFlag = true

  protected get home(): PocHome {
    return resolveHome()
  }

  /**
   * Ctrl+C (SIGINT) and SIGTERM as an AbortSignal for long work, so a command stops what it
   * started and exits 130; `dispose` takes the handlers away again.
   */
  protected interruption(): {signal: AbortSignal; dispose(): void} {
    const controller = new AbortController()
    const abort = () => controller.abort(new Error('interrupted'))
    process.once('SIGINT', abort)
    process.once('SIGTERM', abort)
    return {
      signal: controller.signal,
      dispose: () => {
        process.off('SIGINT', abort)
        process.off('SIGTERM', abort)
      },
    }
  }

  /** Human output only: with --json, stdout carries the result and nothing else. */
  protected say(line = ''): void {
    if (!this.jsonEnabled()) this.log(line)
  }

  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (this.jsonEnabled()) {
      // oclif's parse errors carry their exit code (2) in `oclif.exit`, and enumerable internals
      // (the whole parser input) that do not belong in a JSON contract.
      const {oclif, code, suggestions} = error as {
        oclif?: {exit?: number}
        code?: string
        suggestions?: string[]
      }
      const exitCode = error.exitCode ?? oclif?.exit ?? 1
      const compact = Object.assign(new Error(error.message), {code, exitCode, suggestions})
      compact.name = error.name
      process.exitCode = exitCode
      return super.catch(compact)
    }
    if (error instanceof PocError) {
      for (const line of error.details) this.logToStderr(chalk.dim(line))
      if (process.env.DEBUG && error.cause instanceof Error) this.logToStderr(error.cause.stack ?? '')
      return super.catch(
        new Errors.CLIError(error.message, {exit: error.exitCode, suggestions: error.suggestions}),
      )
    }
    if (error instanceof Errors.CLIError || (error as {oclif?: unknown}).oclif) return super.catch(error)
    if (process.env.DEBUG) this.logToStderr(error.stack ?? String(error))
    return super.catch(
      new Errors.CLIError(`unexpected error: ${errorMessage(error)}`, {
        exit: 1,
        suggestions: ['Run again with DEBUG=poc for the stack trace, and report it if it persists.'],
      }),
    )
  }
}

export const exitCodesHelp = `EXIT CODES
  0  success
  1  a check failed
  2  usage error
  3  the stack or a prerequisite is not available`
