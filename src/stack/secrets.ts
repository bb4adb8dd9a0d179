import {randomBytes} from 'node:crypto'
import {chmod, link, mkdir, open, readFile, unlink} from 'node:fs/promises'
import path from 'node:path'
import {adminTokenFile} from '../contract/files.js'
import {signJwt} from '../contract/jwt.js'
import {PocError, errorMessage, usageError} from './errors.js'
import type {PocHome} from './home.js'
import {syncPath} from '../lib/atomic-file.js'

/** The dev secrets of the order gateway: `JWT_HS256_SECRET` and `AUDIT_HMAC_KEY` (SPEC §4.5). */
export interface GatewaySecrets {
  jwtSecret: string
  auditHmacKey: string
}

export const gatewaySecretFiles = {
  jwtSecret: 'jwt-hs256-secret',
  auditHmacKey: 'audit-hmac-key',
} as const satisfies Record<keyof GatewaySecrets, string>

/** The bearer token every service's admin routes need (SPEC §7); services read it from here when they start. */

export function secretsDir(home: PocHome): string {
  return path.join(home.root, 'secrets')
}

/**
 * The gateway's secrets, created (32 random bytes, hex, mode 0600 in a 0700 directory) when
 * absent. Safe against a concurrent caller, e.g. `poc token` while `poc up` runs: a secret is
 * written whole beside its file and hard-linked into place, which fails if the file appeared
 * meanwhile, and then the file that won is read. A secret once created is never replaced, so
 * tokens made earlier keep verifying.
 */
export async function ensureGatewaySecrets(home: PocHome): Promise<GatewaySecrets> {
  const dir = secretsDir(home)
  await mkdir(dir, {recursive: true, mode: 0o700})
  // mkdir leaves an existing directory as it was; admin-token may share it, so tighten it too.
  await chmod(dir, 0o700)
  return {
    jwtSecret: await ensureSecret(path.join(dir, gatewaySecretFiles.jwtSecret)),
    auditHmacKey: await ensureSecret(path.join(dir, gatewaySecretFiles.auditHmacKey)),
  }
}

/**
 * The admin token (32 random bytes, hex, 0600), created when absent like the gateway's secrets
 * and never replaced, so a service started earlier keeps accepting what `poc reset` sends.
 */
export async function ensureAdminToken(home: PocHome): Promise<string> {
  const dir = secretsDir(home)
  await mkdir(dir, {recursive: true, mode: 0o700})
  await chmod(dir, 0o700)
  return ensureSecret(path.join(dir, adminTokenFile))
}

/** The gateway's secrets as they are on disk, or undefined unless both exist: never creates them. */
export async function readGatewaySecrets(home: PocHome): Promise<GatewaySecrets | undefined> {
  const dir = secretsDir(home)
  const jwtSecret = await readSecret(path.join(dir, gatewaySecretFiles.jwtSecret))
  const auditHmacKey = await readSecret(path.join(dir, gatewaySecretFiles.auditHmacKey))
  return jwtSecret === undefined || auditHmacKey === undefined ? undefined : {jwtSecret, auditHmacKey}
}

export interface DevTokenRequest {
  accountId: string
  ttlSeconds: number
  issuer?: string
  audience?: string
}

export interface DevToken {
  token: string
  accountId: string
  /** ISO 8601, the token's exp. */
  expiresAt: string
  /** Where the signing secret came from; never the secret itself. */
  secretSource: 'env' | 'home'
}

export const maxAccountIdLength = 128
/** A year: longer is no dev token any more, and far enough out exp would not fit a Date. */
export const maxTokenTtlSeconds = 365 * 86_400

/**
 * A token the gateway accepts for `accountId` (`poc token`): signed with `JWT_HS256_SECRET` when
 * set, as the gateway would be, else with the stack's secret, created now if `poc up` has not
 * run yet so that the gateway it later starts accepts the token.
 */
export async function issueDevToken(
  home: PocHome,
  request: DevTokenRequest,
  env: NodeJS.ProcessEnv = process.env,
  now: () => number = Date.now,
): Promise<DevToken> {
  const {accountId, ttlSeconds} = request
  if (accountId.trim() === '')
    throw usageError('the account is empty', ['Pass --account with an account id.'])
  if (accountId.length > maxAccountIdLength) {
    throw usageError(`the account is ${accountId.length} characters long, more than ${maxAccountIdLength}`)
  }
  if (!(Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0 && ttlSeconds <= maxTokenTtlSeconds)) {
    throw usageError(
      `the lifetime must be a whole number of seconds from 1 to ${maxTokenTtlSeconds} (365d), got ${ttlSeconds}`,
    )
  }
  const fromEnv = env.JWT_HS256_SECRET
  const useEnv = fromEnv !== undefined && fromEnv !== ''
  const secret = useEnv ? fromEnv : (await ensureGatewaySecrets(home)).jwtSecret
  const issuedAt = now()
  const claims: Record<string, unknown> = {accountId, sub: accountId}
  if (request.issuer) claims.iss = request.issuer
  if (request.audience) claims.aud = request.audience
  const token = signJwt(claims, secret, {ttlSeconds, now: () => issuedAt})
  const expiresAt = new Date((Math.floor(issuedAt / 1000) + ttlSeconds) * 1000).toISOString()
  return {token, accountId, expiresAt, secretSource: useEnv ? 'env' : 'home'}
}

async function ensureSecret(file: string): Promise<string> {
  const existing = await readSecret(file)
  if (existing !== undefined) return existing
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(`${randomBytes(32).toString('hex')}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(temp, file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new PocError(`could not create the secret ${file}: ${errorMessage(error)}`, {cause: error})
    }
  } finally {
    await unlink(temp).catch(() => undefined)
  }
  await syncPath(path.dirname(file))
  const secret = await readSecret(file)
  if (secret === undefined) throw new PocError(`the secret ${file} vanished while it was being created`)
  return secret
}

async function readSecret(file: string): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new PocError(`could not read the secret ${file}: ${errorMessage(error)}`, {
      cause: error,
      suggestions: ['Check the owner and mode of the file (it should be yours, mode 0600).'],
    })
  }
  const secret = text.trim()
  if (secret === '') {
    throw new PocError(`the secret ${file} is empty`, {
      suggestions: ['Delete it: poc up or poc token then creates a new one.'],
    })
  }
  return secret
}
