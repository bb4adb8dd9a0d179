import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import {chmod, cp, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {catalog} from '../../src/stack/catalog.js'
import {composeDir} from '../../src/stack/compose.js'

/**
 * A real compose implementation reads compose/compose.yaml: podman-compose, the one Debian
 * packages beside podman (npm run setup installs it). Its --dry-run prints the podman commands
 * it would run, which is what it understood of the file. A stub podman answers the few engine
 * questions it asks (does the network or volume exist) so nothing is created.
 */

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

const podmanCompose = onPath('podman-compose')
const skip =
  podmanCompose === undefined && !process.env.CI
    ? 'podman-compose is not installed (apt-get install podman-compose; npm run setup installs it)'
    : false

const secrets = {JWT_HS256_SECRET: 'test-jwt-secret', AUDIT_HMAC_KEY: 'test-audit-key'}

describe('compose/compose.yaml read by podman-compose', {skip}, () => {
  let scratch: string
  let stub: string
  let profiles: string[]

  before(async () => {
    assert.ok(podmanCompose, 'podman-compose is not installed: CI must have it (npm run setup installs it)')
    // A copy, so the directories podman-compose creates for bind sources it misses stay out of the repo.
    scratch = await mkdtemp(path.join(tmpdir(), 'poc-compose-it-'))
    await cp(composeDir, path.join(scratch, 'compose'), {recursive: true})
    stub = path.join(scratch, 'podman')
    await writeFile(stub, '#!/bin/sh\nexit 0\n')
    await chmod(stub, 0o755)
    // podman-compose 1.0.3 (Debian 12) knows no profiles and starts every service; later ones need them named.
    const help = spawnSync(podmanCompose, ['--help'], {encoding: 'utf8'}).stdout
    profiles = help.includes('--profile') ? ['--profile', 'minio', '--profile', 'observability'] : []
  })

  after(async () => {
    if (scratch) await rm(scratch, {recursive: true, force: true})
  })

  function dryRunUp(env: Record<string, string>) {
    const {JWT_HS256_SECRET: _jwt, AUDIT_HMAC_KEY: _audit, ...callerEnv} = process.env
    return spawnSync(
      podmanCompose as string,
      [
        '--dry-run',
        '--podman-path',
        stub,
        '-f',
        path.join(scratch, 'compose', 'compose.yaml'),
        ...profiles,
        'up',
        '--no-build',
      ],
      {encoding: 'utf8', env: {...callerEnv, ...env}, timeout: 60_000},
    )
  }

  it('creates every catalog container with its image, published ports, aliases, environment and healthcheck', () => {
    const result = dryRunUp({...secrets, FAIL_RATE: '0.5'})
    assert.equal(result.status, 0, `podman-compose failed:\n${result.stderr}\n${result.stdout}`)
    const creates = result.stdout.split('\n').filter((line) => / (create|run) --name=/.test(line))
    for (const spec of catalog.filter((c) => c.container)) {
      const line = creates.find((l) => l.includes(` --label com.docker.compose.service=${spec.name} `))
      assert.ok(line, `podman-compose creates no container for ${spec.name}:\n${result.stdout}`)
      assert.ok(line.includes(` ${spec.container!.image}`), `${spec.name}: image ${spec.container!.image}`)
      assert.ok(line.includes(` --network-alias ${spec.name} `), `${spec.name}: alias`)
      assert.ok(line.includes(' --healthcheck-command '), `${spec.name}: healthcheck`)
      for (const port of spec.ports.filter((p) => !p.internal)) {
        assert.ok(
          line.includes(` -p 127.0.0.1:${port.port}:${port.port} `),
          `${spec.name}: port ${port.port}`,
        )
      }
      if (spec.kind === 'service') {
        // The ui speaks to pm only; every other service is on the broker.
        if (spec.dependsOn.includes('rabbitmq'))
          assert.ok(line.includes(' -e AMQP_URL=amqp://guest:guest@rabbitmq:5672 '), `${spec.name}: AMQP_URL`)
        assert.ok(line.includes(' -v compose_poc-home:/var/lib/poc '), `${spec.name}: POC_HOME volume`)
      }
    }
    const gateway = creates.find((l) => l.includes(' --label com.docker.compose.service=gateway ')) ?? ''
    assert.ok(
      gateway.includes(' -e JWT_HS256_SECRET=test-jwt-secret '),
      'the gateway gets the caller’s secret',
    )
    const worker =
      creates.find((l) => l.includes(' --label com.docker.compose.service=invoice-worker ')) ?? ''
    assert.ok(worker.includes(' -e FAIL_RATE '), 'invoice-worker passes FAIL_RATE through from the caller')
    const ui = creates.find((l) => l.includes(' --label com.docker.compose.service=ui ')) ?? ''
    assert.ok(ui.includes(' -e PM_URL=http://pm:3001 '), 'the ui reaches pm by its alias')
    assert.ok(!ui.includes('AMQP_URL'), 'the ui is on no broker')
  })

  it('refuses to start without the gateway’s secrets, naming the one missing', () => {
    const result = dryRunUp({AUDIT_HMAC_KEY: secrets.AUDIT_HMAC_KEY})
    assert.notEqual(result.status, 0)
    assert.match(result.stderr + result.stdout, /set JWT_HS256_SECRET/)
  })
})
