/** Exit codes of SPEC §5: documented in every command's help. */
export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  unavailable: 3,
  interrupted: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/**
 * An error a user can hit: one sentence that names the thing, the exit code it maps to,
 * and what to do next. Commands render it without a stack trace.
 */
export class PocError extends Error {
  readonly exitCode: ExitCodeValue
  readonly suggestions: string[]
  readonly code: string
  /** Extra lines shown under the message, e.g. the last lines of a component's log. */
  readonly details: string[]

  constructor(
    message: string,
    options: {
      exitCode?: ExitCodeValue
      suggestions?: string[]
      code?: string
      details?: string[]
      cause?: unknown
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'PocError'
    this.exitCode = options.exitCode ?? ExitCode.unavailable
    this.suggestions = options.suggestions ?? []
    this.code = options.code ?? 'poc_error'
    this.details = options.details ?? []
  }
}

export function usageError(message: string, suggestions: string[] = []): PocError {
  return new PocError(message, {exitCode: ExitCode.usage, suggestions, code: 'usage'})
}

export function errorMessage(error: unknown): string {
  if (error instanceof PocError) return error.message
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code
    const message = error.message || code || error.name
    return code && !message.includes(code) ? `${code}: ${message}` : message
  }
  return String(error)
}
