import assert from 'node:assert/strict'
import {createHmac} from 'node:crypto'
import {describe, it} from 'node:test'
import {
  type JwtFailure,
  JwtError,
  TokenVerifier,
  bearerToken,
  signJwt,
  verifyJwt,
} from '../../src/contract/jwt.js'

const secret = 'test-secret-0123456789abcdef'
const nowMs = 1_800_000_000_000
const nowSec = nowMs / 1000
const now = () => nowMs

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

/** Signed independently of the module under test, so a bug shared by sign and verify cannot hide. */
function craft(headerPart: string, payloadPart: string, key = secret): string {
  const signature = createHmac('sha256', key).update(`${headerPart}.${payloadPart}`).digest('base64url')
  return `${headerPart}.${payloadPart}.${signature}`
}

const hs256 = b64({alg: 'HS256', typ: 'JWT'})

function refusal(token: string, options: Partial<Parameters<typeof verifyJwt>[1]> = {}): JwtFailure {
  try {
    verifyJwt(token, {secret, now, ...options})
  } catch (error) {
    assert.ok(error instanceof JwtError, `expected a JwtError, got ${String(error)}`)
    return error.reason
  }
  assert.fail('the token was accepted')
}

describe('gateway JWT HS256', () => {
  it('round-trips: what signJwt makes, verifyJwt accepts, with iat and exp set', () => {
    const token = signJwt({accountId: 'acc-1', role: 'trader'}, secret, {ttlSeconds: 3600, now})
    const verified = verifyJwt(token, {secret, now})
    assert.equal(verified.accountId, 'acc-1')
    assert.deepEqual(verified.claims, {iat: nowSec, accountId: 'acc-1', role: 'trader', exp: nowSec + 3600})
    assert.equal(token.split('.')[0], hs256)
  })

  it('signs without exp when no ttl is given, and refuses a ttl that is not a positive whole number', () => {
    const {claims} = verifyJwt(signJwt({sub: 'a'}, secret, {now}), {secret, now})
    assert.deepEqual(claims, {iat: nowSec, sub: 'a'})
    assert.throws(() => signJwt({sub: 'a'}, secret, {ttlSeconds: 0}), RangeError)
    assert.throws(() => signJwt({sub: 'a'}, secret, {ttlSeconds: 1.5}), RangeError)
  })

  it('verifies a token made by another implementation (the jwt.io example, secret as UTF-8 bytes)', () => {
    const token =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'
    assert.equal(verifyJwt(token, {secret: 'your-256-bit-secret'}).accountId, '1234567890')
  })

  it('takes the account from sub when there is no accountId, and prefers accountId over sub', () => {
    assert.equal(verifyJwt(craft(hs256, b64({sub: 'from-sub'})), {secret, now}).accountId, 'from-sub')
    const both = craft(hs256, b64({accountId: 'from-claim', sub: 'from-sub'}))
    assert.equal(verifyJwt(both, {secret, now}).accountId, 'from-claim')
  })

  it('refuses a token without accountId and sub, or with empty ones', () => {
    assert.equal(refusal(craft(hs256, b64({name: 'x'}))), 'no_account')
    assert.equal(refusal(craft(hs256, b64({accountId: '', sub: ''}))), 'no_account')
    assert.equal(refusal(craft(hs256, b64({accountId: 42}))), 'no_account')
  })

  it('refuses a token signed with another secret', () => {
    assert.equal(refusal(signJwt({accountId: 'a'}, 'another-secret', {now})), 'bad_signature')
  })

  it('refuses a tampered payload, and a signature that is cut, padded or missing', () => {
    const token = signJwt({accountId: 'alice'}, secret, {now})
    const [header, , signature] = token.split('.') as [string, string, string]
    assert.equal(
      refusal(`${header}.${b64({accountId: 'mallory', iat: nowSec})}.${signature}`),
      'bad_signature',
    )
    assert.equal(refusal(`${header}.${token.split('.')[1]}.${signature.slice(0, -1)}`), 'bad_signature')
    assert.equal(refusal(`${token}A`), 'bad_signature')
    assert.equal(refusal(`${header}.${token.split('.')[1]}.`), 'bad_signature')
  })

  it('refuses a signature that differs only by a non-ASCII character folding onto the right one', () => {
    const token = signJwt({accountId: 'a'}, secret, {now})
    const last = token.charCodeAt(token.length - 1)
    assert.equal(refusal(token.slice(0, -1) + String.fromCharCode(last + 0x100)), 'bad_signature')
  })

  it('refuses alg none before looking at the signature', () => {
    const payload = b64({accountId: 'a'})
    assert.equal(refusal(`eyJhbGciOiJub25lIn0.${payload}.`), 'alg_not_allowed')
    // Even "signed" with our secret, none stays none.
    assert.equal(refusal(craft('eyJhbGciOiJub25lIn0', payload)), 'alg_not_allowed')
    assert.equal(refusal(craft(b64({alg: 'None', typ: 'JWT'}), payload)), 'alg_not_allowed')
  })

  it('refuses HS512, RS256 and a header without alg, even with a valid HMAC over them', () => {
    const payload = b64({accountId: 'a'})
    assert.equal(refusal(craft(b64({alg: 'HS512', typ: 'JWT'}), payload)), 'alg_not_allowed')
    assert.equal(refusal(craft(b64({alg: 'RS256', typ: 'JWT'}), payload)), 'alg_not_allowed')
    assert.equal(refusal(craft(b64({typ: 'JWT'}), payload)), 'alg_not_allowed')
  })

  it('accepts an HS256 header written differently, and refuses one with critical extensions', () => {
    const payload = b64({accountId: 'a'})
    assert.equal(verifyJwt(craft(b64({typ: 'JWT', alg: 'HS256'}), payload), {secret, now}).accountId, 'a')
    assert.equal(refusal(craft(b64({alg: 'HS256', crit: ['exp']}), payload)), 'malformed')
  })

  it('refuses an expired token beyond the skew and accepts one within it', () => {
    const expiredLongAgo = craft(hs256, b64({accountId: 'a', exp: nowSec - 31}))
    assert.equal(refusal(expiredLongAgo), 'expired')
    assert.equal(refusal(craft(hs256, b64({accountId: 'a', exp: nowSec - 30}))), 'expired')
    const justExpired = craft(hs256, b64({accountId: 'a', exp: nowSec - 29}))
    assert.equal(verifyJwt(justExpired, {secret, now}).accountId, 'a')
    assert.equal(refusal(justExpired, {clockSkewSeconds: 0}), 'expired')
    assert.equal(verifyJwt(expiredLongAgo, {secret, now, clockSkewSeconds: 60}).accountId, 'a')
  })

  it('refuses a token whose nbf is in the future beyond the skew and accepts one within it', () => {
    assert.equal(refusal(craft(hs256, b64({accountId: 'a', nbf: nowSec + 31}))), 'not_yet_valid')
    const soon = craft(hs256, b64({accountId: 'a', nbf: nowSec + 30}))
    assert.equal(verifyJwt(soon, {secret, now}).accountId, 'a')
    assert.equal(refusal(soon, {clockSkewSeconds: 0}), 'not_yet_valid')
  })

  it('refuses exp or nbf that are not numbers', () => {
    assert.equal(refusal(craft(hs256, b64({accountId: 'a', exp: String(nowSec + 60)}))), 'malformed')
    assert.equal(refusal(craft(hs256, b64({accountId: 'a', nbf: null}))), 'malformed')
  })

  it('checks the issuer when one is expected', () => {
    const token = craft(hs256, b64({accountId: 'a', iss: 'poc'}))
    assert.equal(verifyJwt(token, {secret, now, issuer: 'poc'}).accountId, 'a')
    assert.equal(verifyJwt(token, {secret, now}).accountId, 'a')
    assert.equal(refusal(token, {issuer: 'other'}), 'bad_issuer')
    assert.equal(refusal(craft(hs256, b64({accountId: 'a'})), {issuer: 'poc'}), 'bad_issuer')
  })

  it('checks the audience, given as a string or an array, when one is expected', () => {
    const single = craft(hs256, b64({accountId: 'a', aud: 'gateway'}))
    const several = craft(hs256, b64({accountId: 'a', aud: ['ui', 'gateway']}))
    assert.equal(verifyJwt(single, {secret, now, audience: 'gateway'}).accountId, 'a')
    assert.equal(verifyJwt(several, {secret, now, audience: 'gateway'}).accountId, 'a')
    assert.equal(refusal(single, {audience: 'ui'}), 'bad_audience')
    assert.equal(refusal(several, {audience: 'bench'}), 'bad_audience')
    assert.equal(refusal(craft(hs256, b64({accountId: 'a'})), {audience: 'gateway'}), 'bad_audience')
  })

  it('refuses tokens with missing or extra segments', () => {
    const token = signJwt({accountId: 'a'}, secret, {now})
    const [header, payload] = token.split('.') as [string, string, string]
    assert.equal(refusal(`${header}.${payload}`), 'malformed')
    assert.equal(refusal(header), 'malformed')
    assert.equal(refusal(''), 'malformed')
    assert.equal(refusal(`${token}.extra`), 'malformed')
    assert.equal(refusal(`.${payload}.sig`), 'malformed')
  })

  it('refuses parts that are not base64url, and parts that are not JSON objects', () => {
    const payload = b64({accountId: 'a'})
    assert.equal(refusal(craft('!!!', payload)), 'malformed')
    assert.equal(refusal(craft(`${hs256.slice(0, 4)}+${hs256.slice(5)}`, payload)), 'malformed')
    assert.equal(refusal(craft(hs256, `${payload}=`)), 'malformed')
    assert.equal(refusal(craft(b64('not json'), payload)), 'malformed')
    assert.equal(refusal(craft(hs256, b64('{"accountId":'))), 'malformed')
    assert.equal(refusal(craft(hs256, b64('"a string"'))), 'malformed')
    assert.equal(refusal(craft(hs256, b64('[1,2]'))), 'malformed')
    assert.equal(refusal(craft(hs256, b64('null'))), 'malformed')
  })

  it('refuses an empty secret as a configuration error, not as a token problem', () => {
    assert.throws(() => verifyJwt(signJwt({sub: 'a'}, secret), {secret: ''}), TypeError)
    assert.throws(() => signJwt({sub: 'a'}, ''), TypeError)
  })

  it('names the reason without quoting the token', () => {
    const token = signJwt({accountId: 'a'}, 'another-secret', {now})
    assert.throws(
      () => verifyJwt(token, {secret, now}),
      (error: unknown) =>
        error instanceof JwtError &&
        error.name === 'JwtError' &&
        error.reason === 'bad_signature' &&
        !error.message.includes(token.split('.')[2] ?? '?'),
    )
  })

  it('keeps verifying each secret right when several are in use', () => {
    const secrets = Array.from({length: 20}, (_, i) => `secret-${i}`)
    const tokens = secrets.map((s, i) => signJwt({accountId: `acc-${i}`}, s, {now}))
    for (const [i, token] of tokens.entries()) {
      assert.equal(verifyJwt(token, {secret: secrets[i] ?? '', now}).accountId, `acc-${i}`)
      assert.equal(refusal(token, {secret: secrets[(i + 1) % secrets.length]}), 'bad_signature')
    }
  })

  it('reads the token of an Authorization: Bearer header', () => {
    assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi')
    assert.equal(bearerToken('bearer abc.def.ghi'), 'abc.def.ghi')
    assert.equal(bearerToken('BEARER   abc.def.ghi  '), 'abc.def.ghi')
    assert.equal(bearerToken(undefined), undefined)
    assert.equal(bearerToken(''), undefined)
    assert.equal(bearerToken('Bearer'), undefined)
    assert.equal(bearerToken('Bearer '), undefined)
    assert.equal(bearerToken('Bearer    '), undefined)
    assert.equal(bearerToken('Basic dXNlcjpwYXNz'), undefined)
    assert.equal(bearerToken('Bearerabc.def.ghi'), undefined)
    assert.equal(bearerToken('Bearer abc def'), undefined)
  })

  // Expiry on a hit: gateway-http.test.ts.
  describe('TokenVerifier (the cache of verified tokens)', () => {
    const reason = (verifier: TokenVerifier, token: string): JwtFailure | 'accepted' => {
      try {
        verifier.verify(token)
        return 'accepted'
      } catch (error) {
        assert.ok(error instanceof JwtError)
        return error.reason
      }
    }

    it('checks nbf on a hit too: a clock set back before nbf − skew refuses the cached token', () => {
      let clock = nowMs
      const verifier = new TokenVerifier({secret, clockSkewSeconds: 0, now: () => clock})
      const token = craft(hs256, b64({accountId: 'acc-2', nbf: nowSec - 10}))
      assert.equal(verifier.verify(token), 'acc-2')
      clock = nowMs - 11_000
      assert.equal(reason(verifier, token), 'not_yet_valid')
      clock = nowMs
      assert.equal(verifier.verify(token), 'acc-2')
    })

    it('misses on a different signature, even with the same header and payload', () => {
      const verifier = new TokenVerifier({secret, now})
      const payload = b64({accountId: 'acc-3'})
      const good = craft(hs256, payload)
      assert.equal(verifier.verify(good), 'acc-3')
      const forged = craft(hs256, payload, 'another-secret')
      assert.equal(reason(verifier, forged), 'bad_signature')
      const tampered = `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`
      assert.equal(reason(verifier, tampered), 'bad_signature')
      assert.equal(verifier.size, 1, 'refused tokens are not cached')
    })

    it('stays within its bound', () => {
      const verifier = new TokenVerifier({secret, now}, 3)
      for (let i = 0; i < 10; i++) {
        assert.equal(verifier.verify(signJwt({accountId: `acc-${i}`}, secret, {now})), `acc-${i}`)
        assert.ok(verifier.size <= 3, `size ${verifier.size} after ${i + 1} tokens`)
      }
    })
  })
})
