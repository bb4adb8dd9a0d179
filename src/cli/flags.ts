import {Errors, Flags} from '@oclif/core'
import {type ComponentName, componentNames, isComponentName} from '../stack/catalog.js'
import {usageError} from '../stack/errors.js'
import {parseDuration} from '../lib/duration.js'

/** Parse "a,b c" into component names, or a usage error that lists the valid ones. */
export function parseComponentList(values: string[] | undefined): ComponentName[] | undefined {
  if (!values || values.length === 0) return undefined
  const names = values.flatMap((v) => v.split(/[\s,]+/)).filter(Boolean)
  const unknown = names.filter((n) => !isComponentName(n))
  if (unknown.length > 0) {
    throw usageError(`unknown component${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, [
      `Components: ${componentNames.join(', ')}`,
    ])
  }
  return [...new Set(names)] as ComponentName[]
}

export const durationFlag = Flags.custom<number>({
  parse: async (input) => {
    const ms = parseDuration(input)
    // A CLIError keeps its exit code through oclif's parser: a bad value is a usage error (2).
    if (ms === undefined || ms <= 0)
      throw new Errors.CLIError(`expected a duration such as 90s, 2m or 1500ms, got "${input}"`, {exit: 2})
    return ms
  },
})

export const portOffsetFlag = Flags.integer({
  description: 'Shift every port by this much, so a second stack can run beside another.',
  env: 'POC_PORT_OFFSET',
  min: 0,
})
