import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'
import {parseTtlSeconds} from '../../src/commands/token.js'
import {verifyJwt} from '../../src/contract/jwt.js'
import {PocError} from '../../src/stack/errors.js'
import {type PocHome, homeAt} from '../../src/stack/home.js'
import {adminTokenFile, readAdminToken} from '../../src/contract/files.js'
import {getComponent} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {
  ensureAdminToken,
  ensureGatewaySecrets,
  gatewaySecretFiles,
  issueDevToken,
  readGatewaySecrets,
  secretsDir,
} from '../../src/stack/secrets.js'
import {makeHome, repoRoot} from '../helpers.js'

const homes: string[] = []
after(() => {
  for (const root of homes) rmSync(root, {recursive: true, force: true})
})

function freshHome(): PocHome {
  const root = makeHome('token')
  homes.push(root)
  return homeAt(root)
}

const mode = (file: string) => statSync(file).mode & 0o777

describe('gateway secrets', () => {
  it('creates both secrets as 64 hex characters, mode 0600 in a 0700 directory', async () => {
    const home = freshHome()
    const secrets = await ensureGatewaySecrets(home)
    assert.match(secrets.jwtSecret, /^[0-9a-f]{64}$/)
    assert.match(secrets.auditHmacKey, /^[0-9a-f]{64}$/)
    assert.notEqual(secrets.jwtSecret, secrets.auditHmacKey)
    const dir = secretsDir(home)
    assert.equal(mode(dir), 0o700)
    assert.deepEqual(readdirSync(dir).sort(), ['audit-hmac-key', 'jwt-hs256-secret'])
    for (const name of Object.values(gatewaySecretFiles)) assert.equal(mode(path.join(dir, name)), 0o600)
    assert.equal(readFileSync(path.join(dir, 'jwt-hs256-secret'), 'utf8').trim(), secrets.jwtSecret)
  })

  it('is idempotent: a second call returns the same secrets and replaces nothing', async () => {
    const home = freshHome()
    const first = await ensureGatewaySecrets(home)
    const second = await ensureGatewaySecrets(home)
    assert.deepEqual(second, first)
  })

  it('gives every concurrent caller the same secrets and leaves no temp file', async () => {
    const home = freshHome()
    const all = await Promise.all(Array.from({length: 8}, () => ensureGatewaySecrets(home)))
    for (const secrets of all) assert.deepEqual(secrets, all[0])
    assert.deepEqual(readdirSync(secretsDir(home)).sort(), ['audit-hmac-key', 'jwt-hs256-secret'])
  })

  it('keeps a secret the user put there, and tightens a directory made too open', async () => {
    const home = freshHome()
    const dir = secretsDir(home)
    mkdirSync(dir, {mode: 0o755})
    writeFileSync(path.join(dir, 'jwt-hs256-secret'), 'my own secret\n', {mode: 0o600})
    const secrets = await ensureGatewaySecrets(home)
    assert.equal(secrets.jwtSecret, 'my own secret')
    assert.equal(mode(dir), 0o700)
  })

  it('reads them back without creating them, and is undefined while either is absent', async () => {
    const home = freshHome()
    assert.equal(await readGatewaySecrets(home), undefined)
    assert.deepEqual(readdirSync(home.root), [])
    const created = await ensureGatewaySecrets(home)
    assert.deepEqual(await readGatewaySecrets(home), created)
    rmSync(path.join(secretsDir(home), 'audit-hmac-key'))
    assert.equal(await readGatewaySecrets(home), undefined)
  })

  it('refuses an empty secret file rather than signing with an empty key', async () => {
    const home = freshHome()
    mkdirSync(secretsDir(home), {mode: 0o700})
    writeFileSync(path.join(secretsDir(home), 'jwt-hs256-secret'), '\n')
    await assert.rejects(ensureGatewaySecrets(home), (error: unknown) => {
      assert.ok(error instanceof PocError)
      assert.match(error.message, /jwt-hs256-secret is empty/)
      return true
    })
  })
})

describe('admin token', () => {
  it('is created once, 0600, and is what the services read', async () => {
    const home = freshHome()
    const token = await ensureAdminToken(home)
    assert.match(token, /^[0-9a-f]{64}$/)
    const file = path.join(secretsDir(home), adminTokenFile)
    assert.equal(mode(file), 0o600)
    assert.equal(mode(secretsDir(home)), 0o700)
    assert.equal(await ensureAdminToken(home), token)
    assert.equal(await readAdminToken(home.root), token)
  })

  it('is created before any service starts, under every runtime', async () => {
    for (const name of ['pm', 'fi', 'contract', 'gateway', 'sales'] as const) {
      const home = freshHome()
      const spec = getComponent(name)
      const ctx = componentContext(name, home, 0)
      await spec.native?.prepare?.(ctx)
      assert.match((await readAdminToken(home.root)) ?? '', /^[0-9a-f]{64}$/, `${name} native`)
      const other = freshHome()
      await spec.container?.prepare?.(componentContext(name, other, 0))
      assert.match((await readAdminToken(other.root)) ?? '', /^[0-9a-f]{64}$/, `${name} container`)
    }
  })
})

describe('dev tokens', () => {
  const now = () => 1_800_000_000_000

  it('signs with the stack secret, creating it, when JWT_HS256_SECRET is not set', async () => {
    const home = freshHome()
    const issued = await issueDevToken(home, {accountId: 'acc-1', ttlSeconds: 3600}, {}, now)
    assert.equal(issued.secretSource, 'home')
    assert.equal(issued.expiresAt, '2027-01-15T09:00:00.000Z')
    const secrets = await readGatewaySecrets(home)
    assert.ok(secrets)
    const verified = verifyJwt(issued.token, {secret: secrets.jwtSecret, now})
    assert.equal(verified.accountId, 'acc-1')
    assert.equal(verified.claims.exp, 1_800_003_600)
    assert.equal(verified.claims.sub, 'acc-1')
  })

  it('signs with JWT_HS256_SECRET when set, and then creates no file', async () => {
    const home = freshHome()
    const env = {JWT_HS256_SECRET: 'from-the-environment'}
    const issued = await issueDevToken(home, {accountId: 'acc-2', ttlSeconds: 60}, env, now)
    assert.equal(issued.secretSource, 'env')
    assert.equal(verifyJwt(issued.token, {secret: 'from-the-environment', now}).accountId, 'acc-2')
    assert.deepEqual(readdirSync(home.root), [])
  })

  it('carries the issuer and audience the gateway checks', async () => {
    const home = freshHome()
    const request = {accountId: 'acc-3', ttlSeconds: 60, issuer: 'poc', audience: 'gateway'}
    const issued = await issueDevToken(home, request, {JWT_HS256_SECRET: 's'}, now)
    const verified = verifyJwt(issued.token, {secret: 's', now, issuer: 'poc', audience: 'gateway'})
    assert.equal(verified.accountId, 'acc-3')
  })

  it('refuses an empty or too long account and a lifetime out of range as usage errors', async () => {
    const home = freshHome()
    const env = {JWT_HS256_SECRET: 's'}
    for (const request of [
      {accountId: '', ttlSeconds: 60},
      {accountId: '   ', ttlSeconds: 60},
      {accountId: 'a'.repeat(129), ttlSeconds: 60},
      {accountId: 'a', ttlSeconds: 0},
      {accountId: 'a', ttlSeconds: 366 * 86_400},
    ]) {
      await assert.rejects(issueDevToken(home, request, env), (error: unknown) => {
        assert.ok(error instanceof PocError)
        assert.equal(error.exitCode, 2)
        return true
      })
    }
    const longest = await issueDevToken(home, {accountId: 'a'.repeat(128), ttlSeconds: 60}, env)
    assert.equal(longest.accountId.length, 128)
  })

  it('reads --ttl as seconds, minutes, hours or days', () => {
    assert.equal(parseTtlSeconds('90s'), 90)
    assert.equal(parseTtlSeconds('90'), 90)
    assert.equal(parseTtlSeconds('15m'), 900)
    assert.equal(parseTtlSeconds('1h'), 3600)
    assert.equal(parseTtlSeconds('7d'), 604_800)
    assert.equal(parseTtlSeconds('1.5d'), 129_600)
    for (const bad of ['0', '0s', '0d', '500ms', '-1h', '1e3d', 'd', 'soon', '']) {
      assert.equal(parseTtlSeconds(bad), undefined, bad)
    }
  })
})

/**
 * The command as oclif runs it (flag parsing, --json, exit codes, stdout and stderr), from the
 * TypeScript sources: `bin/run.js` needs a build, and `bin/dev.js` finds commands through
 * oclif.manifest.json, which only the build updates.
 */
async function runToken(home: PocHome, args: string[], env: Record<string, string> = {}) {
  const command = pathToFileURL(path.join(repoRoot, 'src', 'commands', 'token.ts')).href
  const script = `import {flush, handle} from '@oclif/core'
import Token from ${JSON.stringify(command)}
await Token.run(process.argv.slice(1), ${JSON.stringify(repoRoot)}).then(() => flush(), handle)`
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('JWT_')),
  )
  const result = await execa(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, '--', ...args],
    {
      cwd: repoRoot,
      env: {...inherited, POC_HOME: home.root, NO_COLOR: '1', ...env},
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    },
  )
  return {exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr}
}

describe('poc token', () => {
  it('prints the token as the last line of stdout, the account and expiry on stderr, never the secret', async () => {
    const home = freshHome()
    const run = await runToken(home, ['--account', 'acc-1', '--ttl', '15m'])
    assert.equal(run.exitCode, 0, run.stderr)
    const lines = run.stdout.split('\n')
    const token = lines.at(-1) ?? ''
    assert.equal(lines.length, 1, run.stdout)
    assert.match(run.stderr, /^Token for account acc-1, valid until \d{4}-\d\d-\d\dT[\d:.]+Z/)
    const secrets = await readGatewaySecrets(home)
    assert.ok(secrets, 'the token command creates the stack secret')
    const verified = verifyJwt(token, {secret: secrets.jwtSecret})
    assert.equal(verified.accountId, 'acc-1')
    assert.equal(Number(verified.claims.exp) - Number(verified.claims.iat), 900)
    assert.ok(!run.stdout.includes(secrets.jwtSecret) && !run.stderr.includes(secrets.jwtSecret))
  })

  it('--json gives {token, accountId, expiresAt} and nothing else on stdout', async () => {
    const home = freshHome()
    const env = {JWT_HS256_SECRET: 'env-secret', JWT_ISSUER: 'poc', JWT_AUDIENCE: 'gateway'}
    const run = await runToken(home, ['--account', 'acc-2', '--ttl', '7d', '--json'], env)
    assert.equal(run.exitCode, 0, run.stderr)
    const result = JSON.parse(run.stdout) as {token: string; accountId: string; expiresAt: string}
    assert.deepEqual(Object.keys(result).sort(), ['accountId', 'expiresAt', 'token'])
    assert.equal(result.accountId, 'acc-2')
    const verified = verifyJwt(result.token, {secret: 'env-secret', issuer: 'poc', audience: 'gateway'})
    assert.equal(new Date(Number(verified.claims.exp) * 1000).toISOString(), result.expiresAt)
    assert.equal(Number(verified.claims.exp) - Number(verified.claims.iat), 7 * 86_400)
    assert.ok(!run.stdout.includes('env-secret'))
    assert.equal(run.stderr, '')
  })

  it('keeps signing with the same stack secret from one call to the next', async () => {
    const home = freshHome()
    const first = await runToken(home, ['--account', 'a', '--json'])
    const second = await runToken(home, ['--account', 'b', '--json'])
    const secrets = await readGatewaySecrets(home)
    assert.ok(secrets)
    for (const run of [first, second]) {
      assert.equal(run.exitCode, 0, run.stderr)
      verifyJwt((JSON.parse(run.stdout) as {token: string}).token, {secret: secrets.jwtSecret})
    }
  })

  for (const [label, args, message] of [
    ['a missing --account', [], /Missing required flag account/],
    ['an empty --account', ['--account', ''], /the account is empty/],
    ['an account over 128 characters', ['--account', 'a'.repeat(129)], /more than 128/],
    ['a --ttl of 0', ['--account', 'a', '--ttl', '0'], /--ttl 0 is not a lifetime/],
    ['a --ttl that is no duration', ['--account', 'a', '--ttl', 'soon'], /--ttl soon is not a lifetime/],
  ] as const) {
    it(`exits 2 on ${label}, creating no secret`, async () => {
      const home = freshHome()
      const run = await runToken(home, [...args])
      assert.equal(run.exitCode, 2, run.stdout + run.stderr)
      assert.match(run.stderr, message)
      assert.equal(run.stdout, '')
      assert.deepEqual(readdirSync(home.root), [])
    })
  }

  it('exits 2 with a JSON error on a bad --ttl under --json', async () => {
    const home = freshHome()
    const run = await runToken(home, ['--account', 'a', '--ttl', '500ms', '--json'])
    assert.equal(run.exitCode, 2, run.stdout + run.stderr)
    const {error} = JSON.parse(run.stdout) as {error: {code: string; message: string}}
    assert.equal(error.code, 'usage')
    assert.match(error.message, /--ttl 500ms/)
  })
})
