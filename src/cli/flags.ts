import {Errors, Flags} from '@oclif/core'
import {type ComponentName, componentNames, isComponentName} from '../stack/catalog.js'
import {usageError} from '../stack/errors.js'
import {parseDuration} from '../lib/duration.js'

/** `--header "Name: value"` given once or more, as a header object; a value without a name is a usage error. */
export function parseHeaders(values: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const text of values ?? []) {
    const colon = text.indexOf(':')
    const name = colon > 0 ? text.slice(0, colon).trim() : ''
    if (name === '') throw usageError(`--header must look like "Name: value", got ${JSON.stringify(text)}`)
    headers[name] = text.slice(colon + 1).trim()
  }
  return headers
}

/** "a,b c" given once or more (a `multiple` flag) as its items. */
export function splitList(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((v) => v.split(/[\s,]+/)).filter(Boolean)
}

/** Parse "a,b c" into component names, or a usage error that lists the valid ones. */
export function parseComponentList(values: string[] | undefined): ComponentName[] | undefined {
  const names = splitList(values)
  if (!names || names.length === 0) return undefined
  const unknown = names.filter((n) => !isComponentName(n))
  if (unknown.length > 0) {
    throw usageError(`unknown component${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, [
      `Components: ${componentNames.join(', ')}`,
    ])
  }
  return [...new Set(names)] as ComponentName[]
}

function durationParser(allowZero: boolean) {
  return async (input: string) => {
    const ms = parseDuration(input)
    // A CLIError keeps its exit code through oclif's parser: a bad value is a usage error (2).
    if (ms === undefined || ms < 0 || (ms === 0 && !allowZero))
      throw new Errors.CLIError(`expected a duration such as 90s, 2m or 1500ms, got "${input}"`, {exit: 2})
    return ms
  }
}

export const durationFlag = Flags.custom<number>({parse: durationParser(false)})

/** A duration that may be 0 (no ramp, no warm-up). */
export const durationOrZeroFlag = Flags.custom<number>({parse: durationParser(true)})

export const portOffsetFlag = Flags.integer({
  description: 'Shift every port by this much, so a second stack can run beside another.',
  env: 'POC_PORT_OFFSET',
  min: 0,
})

/** A number of 0 or more, decimals allowed (oclif's own integer flag refuses 0.01). */
export const nonNegativeNumberFlag = Flags.custom<number>({
  parse: async (input) => {
    const value = input.trim() === '' ? Number.NaN : Number(input)
    if (!Number.isFinite(value) || value < 0)
      throw new Errors.CLIError(`expected a number of 0 or more, got "${input}"`, {exit: 2})
    return value
  },
})
