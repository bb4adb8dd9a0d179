import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {
  catalog,
  componentNames,
  getComponent,
  maxPortOffset,
  resolvePorts,
  selectComponents,
  serviceEnvironment,
  startWaves,
} from '../../src/stack/catalog.js'
import {componentContext} from '../../src/stack/context.js'
import {homeAt} from '../../src/stack/home.js'
import {testPortOffsets} from '../helpers.js'

describe('component catalog', () => {
  it('declares every component of SPEC §2.2 with its default ports', () => {
    const expected: Record<string, number[]> = {
      rabbitmq: [5672, 15672, 15692],
      redis: [6379],
      minio: [9000, 9001],
      prometheus: [9090],
      grafana: [3000],
      loki: [3100],
      pm: [3001],
      fi: [3002],
      sales: [3003],
      credit: [3004],
      contract: [3006],
      'invoice-worker': [3007],
      gateway: [8081],
      ui: [4000],
    }
    for (const [name, ports] of Object.entries(expected)) {
      const spec = getComponent(name as never)
      assert.deepEqual(
        spec.ports.filter((p) => !p.internal).map((p) => p.port),
        ports,
        name,
      )
    }
    assert.deepEqual(
      catalog.map((c) => c.name),
      [...componentNames],
    )
  })

  it('gives RabbitMQ 90 s to start, minio 120 s (a first start formats its OSD) and everything else 60 s', () => {
    const expected = (name: string) => (name === 'rabbitmq' ? 90_000 : name === 'minio' ? 120_000 : 60_000)
    for (const spec of catalog) assert.equal(spec.startTimeoutMs, expected(spec.name), spec.name)
  })

  it('starts dependencies in earlier waves than their dependents', () => {
    const waves = startWaves([...componentNames])
    const waveOf = (name: string) => waves.findIndex((w) => w.includes(name as never))
    for (const spec of catalog) {
      for (const dep of spec.dependsOn)
        assert.ok(waveOf(dep) < waveOf(spec.name), `${dep} before ${spec.name}`)
    }
    assert.deepEqual(waves[0]?.includes('rabbitmq'), true)
    assert.ok(waveOf('grafana') > waveOf('loki'))
  })

  it('selects the default set, adds groups with --with, and pulls in dependencies of --only', () => {
    const defaults = selectComponents({})
    assert.ok(defaults.includes('rabbitmq') && defaults.includes('pm') && defaults.includes('gateway'))
    assert.ok(!defaults.includes('prometheus') && !defaults.includes('minio'))
    assert.ok(selectComponents({with: ['observability']}).includes('prometheus'))
    assert.deepEqual(selectComponents({only: ['pm']}), ['rabbitmq', 'redis', 'pm'])
    assert.deepEqual(selectComponents({only: ['redis']}), ['redis'])
    // Grafana needs Prometheus, which needs what it scrapes.
    assert.deepEqual(selectComponents({only: ['grafana']}), [
      'rabbitmq',
      'redis',
      'prometheus',
      'grafana',
      'loki',
      'pm',
      'fi',
      'sales',
      'credit',
      'contract',
      'invoice-worker',
      'gateway',
      'ui',
    ])
  })

  it('shifts every port by the offset and keeps the largest offset within 65535', () => {
    assert.deepEqual(resolvePorts(getComponent('rabbitmq'), 1000), {
      amqp: 6672,
      management: 16672,
      prometheus: 16692,
      epmd: 15369,
      dist: 26672,
    })
    const highest = Math.max(...catalog.flatMap((c) => Object.values(resolvePorts(c, maxPortOffset))))
    assert.equal(highest, 65_535)
  })

  it('keeps the test stacks off each other’s ports and off the default stack', () => {
    const offsets = [0, ...Object.values(testPortOffsets)]
    const owner = new Map<number, string>()
    for (const offset of offsets) {
      for (const spec of catalog) {
        for (const [name, port] of Object.entries(resolvePorts(spec, offset))) {
          const here = `${spec.name}.${name}@${offset}`
          assert.ok(!owner.has(port), `port ${port}: ${owner.get(port)} and ${here}`)
          owner.set(port, here)
          if (offset > 0) assert.ok(port < 32_768, `${here} = ${port} is in the ephemeral range`)
        }
      }
    }
  })
})

describe('the catalog under the container runtimes', () => {
  const home = homeAt('/tmp/poc-catalog-test')

  it('gives every piece of infrastructure a container recipe with a fully qualified image', () => {
    for (const spec of catalog.filter((c) => c.kind === 'infrastructure')) {
      assert.ok(spec.container, `${spec.name} has a container recipe`)
      assert.match(spec.container.image, /^(docker\.io|localhost)\//, spec.name)
    }
    const local = catalog.flatMap((c) => (c.container?.localImage ? [c.name] : []))
    assert.deepEqual(
      local.filter((n) => getComponent(n).kind === 'infrastructure'),
      ['rabbitmq', 'redis', 'minio', 'prometheus'],
    )
  })

  it('lets containers on the stack network reach each other by alias, and everything else through loopback', () => {
    const inNetwork = () => 'network-container' as const
    const pm = componentContext('pm', home, 1000, inNetwork)
    assert.deepEqual(pm.bind, {host: '0.0.0.0', ports: {http: 3001}})
    assert.equal(pm.reach('rabbitmq', 'amqp'), 'rabbitmq:5672')
    assert.equal(
      serviceEnvironment(getComponent('fi'), componentContext('fi', home, 1000, inNetwork), {}).PM_URL,
      'http://pm:3001',
    )
    const native = componentContext('pm', home, 1000)
    assert.deepEqual(native.bind, {host: '127.0.0.1', ports: {http: 4001}})
    assert.equal(native.reach('rabbitmq', 'amqp'), '127.0.0.1:6672')
  })

  it("passes the caller's gateway tuning through, and never lets it override what poc sets", () => {
    const ctx = componentContext('gateway', home, 0)
    const env = serviceEnvironment(getComponent('gateway'), ctx, {
      BACKPRESSURE_INFLIGHT_MAX: '5',
      SSE_HEARTBEAT_MS: '1000',
      HOST: 'example.org',
      PATH: '/usr/bin',
    })
    assert.equal(env.BACKPRESSURE_INFLIGHT_MAX, '5')
    assert.equal(env.SSE_HEARTBEAT_MS, '1000')
    assert.equal(env.HOST, '127.0.0.1')
    assert.equal(env.PATH, undefined, 'only what the gateway reads is passed')
  })
})
