import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {parseDuration} from '../lib/duration.js'
import {usageError} from '../stack/errors.js'
import {issueDevToken, maxAccountIdLength} from '../stack/secrets.js'

/** What `poc token --json` prints: SPEC §5 promises `token`; the rest says what it is good for. */
export interface TokenResult {
  token: string
  accountId: string
  expiresAt: string
}

const secondsPerDay = 86_400

/**
 * "90s", "15m", "1h", "7d" (or a bare number of seconds) → whole seconds, at least 1; undefined
 * otherwise. Durations elsewhere in poc stop at hours; a token's lifetime is often counted in days.
 */
export function parseTtlSeconds(text: string): number | undefined {
  const trimmed = text.trim()
  const days = trimmed.endsWith('d') ? trimmed.slice(0, -1) : undefined
  const ms = days === undefined ? parseDuration(trimmed) : daysToMs(days)
  if (ms === undefined) return undefined
  const seconds = Math.floor(ms / 1000)
  return Number.isSafeInteger(seconds) && seconds >= 1 ? seconds : undefined
}

function daysToMs(days: string): number | undefined {
  // Reuse parseDuration's number syntax (no signs, exponents or blanks) by asking it for seconds.
  const asSeconds = parseDuration(`${days}s`)
  return asSeconds === undefined ? undefined : asSeconds * secondsPerDay
}

export default class Token extends PocCommand {
  static description = `Prints a JWT (HS256) that the order gateway accepts for the account: claims accountId and sub, iat, exp, and iss/aud when given. It is signed with JWT_HS256_SECRET when that is set, as the gateway is, else with the stack's dev secret in $POC_HOME/secrets/jwt-hs256-secret, which is created if poc up has not run yet, so a token made before poc up still works once the stack is up. The token is the last line of stdout (the account and expiry go to stderr), so TOKEN=$(poc token --account A) captures it alone. The secret is never printed.

${exitCodesHelp}`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --account acc-1',
      description: 'A token for account acc-1, valid for an hour.',
    },
    {
      command:
        'curl -H "Authorization: Bearer $(<%= config.bin %> <%= command.id %> --account acc-1 --ttl 7d)" http://127.0.0.1:8081/orders/ORDER_ID',
      description: 'Use it with curl; this one is valid for a week.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --account acc-1 --ttl 15m --json',
      description: 'As JSON: {token, accountId, expiresAt}.',
    },
  ]

  static flags = {
    account: Flags.string({
      description: `The account the token speaks for (claims accountId and sub), at most ${maxAccountIdLength} characters.`,
      required: true,
    }),
    audience: Flags.string({
      description: 'The aud claim, for a gateway that checks one.',
      env: 'JWT_AUDIENCE',
    }),
    issuer: Flags.string({description: 'The iss claim, for a gateway that checks one.', env: 'JWT_ISSUER'}),
    // A string parsed in run(): an error thrown by a custom flag parser reaches the user as an
    // unexpected error with exit 1, where a bad lifetime is a usage error (exit 2).
    ttl: Flags.string({
      default: '1h',
      description: 'How long the token is valid: 90s, 15m, 1h, 7d; at most 365d.',
    }),
  }

  static summary = 'Print a dev JWT for the order gateway.'

  async run(): Promise<TokenResult> {
    const {flags} = await this.parse(Token)
    const ttlSeconds = parseTtlSeconds(flags.ttl)
    if (ttlSeconds === undefined) {
      throw usageError(`--ttl ${flags.ttl} is not a lifetime of at least one second`, [
        'Pass a duration such as 90s, 15m, 1h or 7d.',
      ])
    }
    const issued = await issueDevToken(this.home, {
      accountId: flags.account,
      ttlSeconds,
      issuer: flags.issuer,
      audience: flags.audience,
    })
    if (!this.jsonEnabled()) {
      const source = issued.secretSource === 'env' ? 'JWT_HS256_SECRET' : "the stack's dev secret"
      this.logToStderr(
        `Token for account ${issued.accountId}, valid until ${issued.expiresAt}, signed with ${source}:`,
      )
      this.log(issued.token)
    }
    return {token: issued.token, accountId: issued.accountId, expiresAt: issued.expiresAt}
  }
}
