import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {parse} from 'yaml'
import {type ComponentSpec, catalog, getComponent, serviceEnvironment} from '../../src/stack/catalog.js'
import {
  type ComposeDocument,
  composeDir,
  composeHome,
  composeProject,
  generateComposeFiles,
  handWrittenComposeFiles,
  listComposeDir,
} from '../../src/stack/compose.js'
import {componentContext} from '../../src/stack/context.js'

const regenerate = 'run `npm run compose` and commit compose/'

function contextOf(spec: ComponentSpec) {
  return componentContext(spec.name, composeHome, 0, () => 'network-container')
}

/**
 * What a service's environment must hold in compose: the catalog's variables with the catalog's
 * values, and every other variable poc passes through, as a pass-through (null). A secret poc hands over
 * as a file (`X_FILE` for a passed-through X) must instead be required from the caller.
 */
function expectedEnvironment(spec: ComponentSpec): {
  values: Record<string, string>
  passed: string[]
  required: string[]
} {
  const own = serviceEnvironment(spec, contextOf(spec), {})
  // A variable may be listed twice (shared ones that are also in the gateway's schema).
  const passEnv = [...new Set(spec.passEnv ?? [])]
  const required = passEnv.filter((name) => `${name}_FILE` in own)
  const values = Object.fromEntries(
    Object.entries(own).filter(([name]) => !required.some((secret) => name === `${secret}_FILE`)),
  )
  // What poc sets itself wins over the caller's: those are values, not pass-throughs.
  const passed = passEnv.filter((name) => !required.includes(name) && !(name in own))
  return {values, passed, required}
}

/** Every way `document` disagrees with the catalog, one sentence each. */
function disagreements(document: ComposeDocument, components: readonly ComponentSpec[]): string[] {
  const found: string[] = []
  const services = document.services ?? {}
  const containers = components.filter((c) => c.container)
  for (const name of Object.keys(services)) {
    if (!containers.some((c) => c.name === name))
      found.push(`${name} is a compose service but no catalog container`)
  }
  for (const spec of containers) {
    const recipe = spec.container as NonNullable<ComponentSpec['container']>
    const ctx = contextOf(spec)
    const service = services[spec.name]
    if (!service) {
      found.push(`${spec.name} is missing`)
      continue
    }
    const differ = (what: string, actual: unknown, expected: unknown) => {
      try {
        assert.deepEqual(actual, expected)
      } catch {
        found.push(
          `${spec.name}: ${what} is ${JSON.stringify(actual)}, the catalog says ${JSON.stringify(expected)}`,
        )
      }
    }
    differ('image', service.image, recipe.image)
    differ(
      'ports',
      service.ports ?? [],
      spec.ports.filter((p) => !p.internal).map((p) => `127.0.0.1:${p.port}:${p.port}`),
    )
    differ('profiles', service.profiles, spec.group === 'core' ? undefined : [spec.group])
    differ('depends_on', Object.keys(service.depends_on ?? {}), spec.dependsOn)
    for (const [dependency, condition] of Object.entries(service.depends_on ?? {})) {
      differ(`the condition on ${dependency}`, condition, {condition: 'service_healthy'})
    }
    differ('command', service.command, recipe.cmd?.(ctx))
    differ('hostname', service.hostname, recipe.hostname)
    differ('stop_grace_period', service.stop_grace_period, `${Math.ceil(spec.stopGraceMs / 1000)}s`)
    const environment = service.environment ?? {}
    if (spec.kind === 'service') {
      const {values, passed, required} = expectedEnvironment(spec)
      differ(
        'the environment variables',
        Object.keys(environment).sort(),
        [...Object.keys(values), ...passed, ...required].sort(),
      )
      for (const [name, value] of Object.entries(values)) differ(name, environment[name], value)
      for (const name of passed) differ(name, environment[name], null)
      for (const name of required) {
        if (!new RegExp(`^\\$\\{${name}:\\?.+\\}$`).test(String(environment[name]))) {
          found.push(
            `${spec.name}: ${name} must be required from the caller as \${${name}:?…}, is ${environment[name]}`,
          )
        }
      }
      differ('build', service.build, {context: '..', dockerfile: 'compose/Dockerfile'})
    } else {
      differ('environment', environment, recipe.env?.(ctx) ?? {})
    }
    const test = service.healthcheck?.test
    if (!Array.isArray(test) || !['CMD', 'CMD-SHELL'].includes(test[0] ?? '')) {
      found.push(`${spec.name} has no healthcheck that runs a command`)
    } else if (
      spec.kind === 'service' &&
      !test.join(' ').includes(`127.0.0.1:${ctx.bind.ports.http}/health`)
    ) {
      found.push(`${spec.name}: the healthcheck does not ask its own /health`)
    }
    // Short syntax `source:target[:ro]`, or the long one compose uses for a part of a volume.
    const volumes = (service.volumes ?? []).map((v) =>
      typeof v === 'string' ? {source: v.split(':')[0], target: v.split(':')[1]} : v,
    )
    for (const data of recipe.data ?? []) {
      const volume = volumes.find((v) => v.target === data.target)?.source
      if (!volume || !(volume in (document.volumes ?? {}))) {
        found.push(`${spec.name}: ${data.target} is not on a named volume`)
      }
    }
    for (const bind of recipe.binds?.(ctx) ?? []) {
      if (!volumes.some((v) => v.target === bind.target))
        found.push(`${spec.name}: ${bind.target} is not mounted`)
    }
  }
  return found
}

async function committedYaml(): Promise<ComposeDocument> {
  return parse(await readFile(path.join(composeDir, 'compose.yaml'), 'utf8')) as ComposeDocument
}

describe('compose/', () => {
  it('holds exactly what `npm run compose` generates from the catalog now', async () => {
    const generated = await generateComposeFiles()
    for (const [relative, content] of generated) {
      let committed: string | undefined
      try {
        committed = await readFile(path.join(composeDir, relative), 'utf8')
      } catch {
        committed = undefined
      }
      assert.ok(committed !== undefined, `compose/${relative} is missing: ${regenerate}`)
      assert.equal(committed, content, `compose/${relative} no longer matches the catalog: ${regenerate}`)
    }
    const stray = (await listComposeDir()).filter(
      (relative) => !generated.has(relative) && !handWrittenComposeFiles.includes(relative),
    )
    assert.deepEqual(stray, [], `compose/ holds files the generator no longer writes: ${regenerate}`)
  })

  it('has every catalog container as a service with its name, image, ports, profile, dependencies, environment and a healthcheck', async () => {
    assert.deepEqual(disagreements(await committedYaml(), catalog), [])
  })

  it('notices when the file and the catalog disagree', async () => {
    const document = await committedYaml()
    document.services.redis!.ports = ['127.0.0.1:6380:6379']
    delete document.services.gateway!.environment!.AMQP_URL
    document.services.pm!.depends_on = {rabbitmq: {condition: 'service_healthy'}}
    delete document.services.loki
    const found = disagreements(document, catalog)
    assert.ok(
      found.some((f) => f.startsWith('redis: ports')),
      found.join('\n'),
    )
    assert.ok(
      found.some((f) => f.startsWith('gateway: the environment variables')),
      found.join('\n'),
    )
    assert.ok(
      found.some((f) => f.startsWith('pm: depends_on')),
      found.join('\n'),
    )
    assert.ok(found.includes('loki is missing'), found.join('\n'))
  })

  it('publishes every port on 127.0.0.1 only and commits no secret', async () => {
    const document = await committedYaml()
    for (const [name, service] of Object.entries(document.services)) {
      for (const port of service.ports ?? []) assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, name)
    }
    const gateway = document.services.gateway!.environment!
    assert.match(String(gateway.JWT_HS256_SECRET), /^\$\{JWT_HS256_SECRET:\?/)
    assert.match(String(gateway.AUDIT_HMAC_KEY), /^\$\{AUDIT_HMAC_KEY:\?/)
    assert.equal(gateway.JWT_HS256_SECRET_FILE, undefined)
  })

  it('points our services at the others by alias, with POC_HOME on a volume', async () => {
    const fi = (await committedYaml()).services.fi!
    assert.equal(fi.environment?.AMQP_URL, 'amqp://guest:guest@rabbitmq:5672')
    assert.equal(fi.environment?.PM_URL, 'http://pm:3001')
    assert.equal(fi.environment?.POC_HOME, '/var/lib/poc')
    assert.equal(fi.environment?.DATA_DIR, '/var/lib/poc/data/fi')
    assert.deepEqual(fi.volumes, ['poc-home:/var/lib/poc'])
    assert.deepEqual(fi.command, ['fi'])
  })

  it('mounts the config files the catalog prepares and Grafana’s fixtures, by paths relative to compose/', async () => {
    const {rabbitmq, prometheus, grafana} = (await committedYaml()).services
    assert.ok(rabbitmq!.volumes!.includes('./rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro'))
    assert.ok(rabbitmq!.volumes!.includes('./rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins:ro'))
    assert.ok(prometheus!.volumes!.includes('./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'))
    assert.ok(grafana!.volumes!.includes('../fixtures/grafana/provisioning:/etc/grafana/provisioning:ro'))
    assert.ok(grafana!.volumes!.includes('../fixtures/grafana/dashboards:/var/lib/grafana/dashboards/poc:ro'))
    const prometheusYml = await readFile(path.join(composeDir, 'prometheus', 'prometheus.yml'), 'utf8')
    assert.match(prometheusYml, /job_name: pm\n\s+static_configs:\n\s+- targets:\n\s+- pm:3001\n/)
  })

  it('refuses a container without a healthcheck, or a bind it cannot place, naming what to do', () => {
    const redis = getComponent('redis')
    // pm's name, as infrastructure: a component compose.ts knows no healthcheck for.
    const unknown: ComponentSpec = {...redis, name: 'pm', kind: 'infrastructure'}
    assert.throws(
      () => composeProject([unknown]),
      /pm has no healthcheck; add one to infrastructureHealthchecks/,
    )
    const elsewhere = {
      ...redis,
      container: {...redis.container!, binds: () => [{source: '/etc/passwd', target: '/x'}]},
    }
    assert.throws(
      () => composeProject([elsewhere]),
      /redis binds \/etc\/passwd, .* teach src\/stack\/compose\.ts/,
    )
  })
})
