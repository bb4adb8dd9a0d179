import {type KeyObject, createHmac, createSecretKey, timingSafeEqual} from 'node:crypto'

/**
 * JWT HS256 for the order gateway (SPEC §4.5), on node:crypto alone. Verification runs on every
 * request of the fast path, so it splits with indexOf, caches the HMAC key per secret and skips
 * decoding the header when it is the one `signJwt` writes.
 *
 * The secret is used as its UTF-8 bytes (not hex-decoded), as jwt.io and the seed's gateway do,
 * so a token made elsewhere with the same `JWT_HS256_SECRET` string verifies here.
 */

export type JwtFailure =
  | 'malformed'
  | 'bad_signature'
  | 'alg_not_allowed'
  | 'expired'
  | 'not_yet_valid'
  | 'bad_issuer'
  | 'bad_audience'
  | 'no_account'

const failureMessages: Record<JwtFailure, string> = {
  malformed: 'token is not a well-formed JWT',
  bad_signature: 'token signature does not match',
  alg_not_allowed: 'token algorithm is not HS256',
  expired: 'token has expired',
  not_yet_valid: 'token is not valid yet',
  bad_issuer: 'token issuer is not the expected one',
  bad_audience: 'token audience is not the expected one',
  no_account: 'token names no account (accountId or sub)',
}

/** Why a token was refused. The message never quotes the token: it may end up in a log. */
export class JwtError extends Error {
  readonly reason: JwtFailure

  constructor(reason: JwtFailure) {
    super(failureMessages[reason])
    this.name = 'JwtError'
    this.reason = reason
  }
}

export type JwtClaims = Record<string, unknown>

export interface VerifiedJwt {
  accountId: string
  claims: JwtClaims
}

export interface VerifyJwtOptions {
  secret: string
  issuer?: string
  audience?: string
  /** Tolerance on exp and nbf for clocks that disagree; default 30. */
  clockSkewSeconds?: number
  /** Milliseconds since the epoch, like Date.now (the default). */
  now?: () => number
}

export interface SignJwtOptions {
  /** Sets exp this many seconds after iat; without it the token never expires. */
  ttlSeconds?: number
  /** Milliseconds since the epoch, like Date.now (the default). */
  now?: () => number
}

const defaultClockSkewSeconds = 30
const hs256Header = Buffer.from(JSON.stringify({alg: 'HS256', typ: 'JWT'})).toString('base64url')

// A gateway sees one or two secrets in its life; the bound only keeps a caller that passes
// many (tests, a rotation loop) from growing the map without end.
const maxCachedKeys = 8
const keys = new Map<string, KeyObject>()

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret)
  if (key === undefined) {
    // An empty key would make every token signed with "" valid: a configuration error, not a refusal.
    if (secret.length === 0) throw new TypeError('the JWT HS256 secret is empty')
    if (keys.size >= maxCachedKeys) keys.clear()
    key = createSecretKey(Buffer.from(secret, 'utf8'))
    keys.set(secret, key)
  }
  return key
}

function hs256(signingInput: string, secret: string): string {
  return createHmac('sha256', keyOf(secret)).update(signingInput).digest('base64url')
}

export function signJwt(claims: JwtClaims, secret: string, options: SignJwtOptions = {}): string {
  const ttl = options.ttlSeconds
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0)) {
    throw new RangeError(`ttlSeconds must be a positive whole number, got ${ttl}`)
  }
  const iat = Math.floor((options.now ?? Date.now)() / 1000)
  const payload = ttl === undefined ? {iat, ...claims} : {iat, ...claims, exp: iat + ttl}
  const signingInput = `${hs256Header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${signingInput}.${hs256(signingInput, secret)}`
}

/**
 * The account a valid token speaks for, or a JwtError with the reason. The header is judged
 * before the signature, so an `alg: none` or RS256 token is refused as such and never reaches
 * the HMAC; the payload is parsed only once the signature holds.
 */
export function verifyJwt(token: string, options: VerifyJwtOptions): VerifiedJwt {
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (second < 0 || token.indexOf('.', second + 1) >= 0) throw new JwtError('malformed')
  const headerPart = token.slice(0, first)
  const payloadPart = token.slice(first + 1, second)
  const signaturePart = token.slice(second + 1)

  if (headerPart !== hs256Header) checkHeader(headerPart)

  const expected = Buffer.from(hs256(token.slice(0, second), options.secret), 'latin1')
  // utf8, not latin1: a non-ASCII character must change the length, not fold onto an ASCII one.
  const given = Buffer.from(signaturePart, 'utf8')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new JwtError('bad_signature')
  }

  const claims = decodeJson(payloadPart)
  const nowSeconds = (options.now ?? Date.now)() / 1000
  const skew = options.clockSkewSeconds ?? defaultClockSkewSeconds
  const exp = numericDate(claims.exp)
  if (exp !== undefined && nowSeconds >= exp + skew) throw new JwtError('expired')
  const nbf = numericDate(claims.nbf)
  if (nbf !== undefined && nowSeconds + skew < nbf) throw new JwtError('not_yet_valid')
  if (options.issuer !== undefined && claims.iss !== options.issuer) throw new JwtError('bad_issuer')
  if (options.audience !== undefined && !hasAudience(claims.aud, options.audience)) {
    throw new JwtError('bad_audience')
  }
  const accountId = nonEmptyString(claims.accountId) ?? nonEmptyString(claims.sub)
  if (accountId === undefined) throw new JwtError('no_account')
  return {accountId, claims}
}

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235), else undefined. */
export function bearerToken(authorizationHeader: string | undefined): string | undefined {
  if (authorizationHeader === undefined || authorizationHeader.length <= 7) return undefined
  if (authorizationHeader.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const token = authorizationHeader.slice(7).trim()
  return token === '' || token.includes(' ') ? undefined : token
}

function checkHeader(part: string): void {
  const header = decodeJson(part)
  if (header.alg !== 'HS256') throw new JwtError('alg_not_allowed')
  // RFC 7515 §4.1.11: extensions marked critical that we do not implement make the token invalid.
  if (header.crit !== undefined) throw new JwtError('malformed')
}

function decodeJson(part: string): JwtClaims {
  if (!isBase64Url(part)) throw new JwtError('malformed')
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw new JwtError('malformed')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwtError('malformed')
  return value as JwtClaims
}

// Buffer's decoder skips characters outside the alphabet; checking first keeps "a!b" from passing as "ab".
function isBase64Url(part: string): boolean {
  if (part.length === 0 || part.length % 4 === 1) return false
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i)
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95
    if (!ok) return false
  }
  return true
}

function numericDate(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new JwtError('malformed')
  return value
}

function hasAudience(aud: unknown, expected: string): boolean {
  return aud === expected || (Array.isArray(aud) && aud.includes(expected))
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/**
 * verifyJwt behind a bounded cache of tokens already verified, keyed by the whole token string.
 * Safe because everything verifyJwt judges but the time is a function of that string alone: the
 * signature covers header and payload, so the same string has the same claims and account, and a
 * different signature (or any other byte) is a different key that is verified afresh. What does
 * change is the clock, so exp and nbf (with the skew) are checked again on every hit, and a
 * token cached before it expired is refused after. A full cache is emptied (tokens are few: one
 * per client); a refused token is never cached, so refusals cost a full verification each.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, {accountId: string; notBeforeMs: number; expiresAtMs: number}>()

  constructor(
    private readonly options: VerifyJwtOptions,
    private readonly maxEntries = 10_000,
  ) {}

  /** Tokens in the cache. */
  get size(): number {
    return this.cache.size
  }

  /** The token's account, or a JwtError. */
  verify(token: string): string {
    const now = (this.options.now ?? Date.now)()
    const cached = this.cache.get(token)
    if (cached) {
      if (now < cached.expiresAtMs && now >= cached.notBeforeMs) return cached.accountId
      // Out of its time window (expired, or a clock set back before nbf): judged afresh below.
      this.cache.delete(token)
    }
    const {accountId, claims} = verifyJwt(token, this.options)
    const skewMs = (this.options.clockSkewSeconds ?? defaultClockSkewSeconds) * 1000
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 + skewMs : Number.POSITIVE_INFINITY
    const nbf = typeof claims.nbf === 'number' ? claims.nbf * 1000 - skewMs : Number.NEGATIVE_INFINITY
    if (this.cache.size >= this.maxEntries) this.cache.clear()
    this.cache.set(token, {accountId, notBeforeMs: nbf, expiresAtMs: exp})
    return accountId
  }
}
