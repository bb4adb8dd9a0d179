import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay} from 'node:timers/promises'
import amqp from 'amqplib'
import type Docker from 'dockerode'
import {Redis} from 'ioredis'
import {type Engine, openEngine, podmanBinary} from '../../src/stack/engine/connect.js'
import {errorMessage} from '../../src/stack/errors.js'
import {homeAt} from '../../src/stack/home.js'
import {
  type EnsuredLocalImage,
  ensureLocalImage,
  formatMegabytes,
  listLocalImages,
} from '../../src/stack/images/local-images.js'
import {type LocalImageComponent, localImageComponents} from '../../src/stack/images/recipes.js'
import {stopProcesses} from '../../src/stack/native.js'
import type {ImagesBuildResult} from '../../src/commands/images/build.js'
import type {ImagesListResult} from '../../src/commands/images/list.js'
import {parseJson, runPoc} from '../helpers.js'

/**
 * The local images against real podman, run exactly as the engine runtime runs the official
 * images (same entrypoints, commands, mounts and hostname). The first run builds them (a few
 * minutes, cached in ~/.cache/poc); later runs find them in the engine at once.
 */

const prefix = `poc-images-test-${process.pid}`
const ports = {redis: 29379, amqp: 29672, management: 29673, prometheus: 29090, sales: 29303}
const home = mkdtempSync(path.join(os.tmpdir(), 'poc-test-images-'))

async function probe(): Promise<{engine?: Engine; reason?: string}> {
  if (!podmanBinary()) return {reason: 'podman is not installed (apt-get install -y podman runc)'}
  try {
    return {engine: await openEngine('podman', homeAt(home))}
  } catch (error) {
    return {reason: `podman cannot run here: ${errorMessage(error)}`}
  }
}

const {engine, reason} = await probe()
// On CI a missing podman is a broken runner, not a reason to pass quietly.
const skip = reason !== undefined && !process.env.CI ? reason : false

/** Polls `check` until it answers without throwing; the error names what was awaited, for how long, and the last failure. */
async function waitFor<T>(what: string, check: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      return await check()
    } catch (error) {
      last = error
      await delay(250)
    }
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${errorMessage(last)}`)
}

describe('local images under podman', {skip, timeout: 900_000}, () => {
  const images = new Map<LocalImageComponent, EnsuredLocalImage>()
  const containers: Docker.Container[] = []
  const volumes: string[] = []
  let docker: Docker
  let network: string

  before(async () => {
    if (!engine) throw new Error(reason)
    docker = engine.docker
    for (const component of localImageComponents) {
      const image = await ensureLocalImage(docker, component, {
        progress: (line) => console.error(`${component}: ${line}`),
      })
      console.error(
        `${component}: ${image.tag} ${image.source} in ${(image.durationMs / 1000).toFixed(1)} s, ${formatMegabytes(image.sizeBytes)}`,
      )
      images.set(component, image)
    }
    network = `${prefix}-net`
    await docker.createNetwork({Name: network})
  })

  after(async () => {
    for (const container of containers) await container.remove({force: true, v: true}).catch(() => undefined)
    if (network)
      await docker
        .getNetwork(network)
        .remove()
        .catch(() => undefined)
    for (const volume of volumes)
      await docker
        .getVolume(volume)
        .remove()
        .catch(() => undefined)
    if (engine?.service) await stopProcesses([engine.service], 5000)
    rmSync(home, {recursive: true, force: true})
  })

  function tagOf(component: LocalImageComponent): string {
    const image = images.get(component)
    assert.ok(image, `${component} image was ensured`)
    return image.tag
  }

  async function volume(name: string): Promise<string> {
    const full = `${prefix}-${name}`
    await docker.createVolume({Name: full})
    volumes.push(full)
    return full
  }

  function published(bindings: Record<string, number>): Docker.HostConfig['PortBindings'] {
    return Object.fromEntries(
      Object.entries(bindings).map(([containerPort, hostPort]) => [
        `${containerPort}/tcp`,
        [{HostIp: '127.0.0.1', HostPort: String(hostPort)}],
      ]),
    )
  }

  async function start(name: string, options: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    const container = await docker.createContainer({name: `${prefix}-${name}`, ...options})
    containers.push(container)
    await container.start()
    return container
  }

  async function logsOf(container: Docker.Container): Promise<string> {
    const buffer = (await container.logs({stdout: true, stderr: true, follow: false})) as unknown as Buffer
    return demux(buffer)
  }

  it('lists the four images as current', async () => {
    const list = await listLocalImages(docker)
    for (const component of localImageComponents) {
      const status = list.components.find((c) => c.component === component)
      assert.equal(status?.tag, tagOf(component))
      assert.equal(status?.inEngine, true, `${component} is in the engine`)
      const image = list.images.find((i) => i.tag === tagOf(component))
      assert.equal(image?.current, true)
    }
  })

  it('ensures an image that is there at once, without building', async () => {
    const again = await ensureLocalImage(docker, 'redis')
    assert.equal(again.built, false)
    assert.equal(again.source, 'engine')
    assert.equal(again.tag, tagOf('redis'))
    assert.ok(again.sizeBytes > 10_000_000, `size ${again.sizeBytes}`)
  })

  it('poc images build answers the same tags at once, as JSON on stdout only', async () => {
    const run = await runPoc(home, ['images', 'build', 'redis', 'services', '--runtime', 'podman', '--json'])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = parseJson<ImagesBuildResult>(run)
    assert.deepEqual(
      result.images.map((i) => [i.component, i.tag, i.source]),
      [
        ['redis', tagOf('redis'), 'engine'],
        ['services', tagOf('services'), 'engine'],
      ],
    )
    const list = parseJson<ImagesListResult>(await runPoc(home, ['images', 'list', '--json']))
    assert.deepEqual(
      list.components.map((c) => [c.component, c.inEngine]),
      localImageComponents.map((c) => [c, true]),
    )
  })

  it('poc images build refuses an unknown component with exit 2, naming the valid ones', async () => {
    const run = await runPoc(home, ['images', 'build', 'grafana'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /no local image recipe for grafana/)
    assert.match(run.stderr, /rabbitmq, redis, minio, prometheus, services/)
  })

  it('redis answers PING and keeps its append-only file in /data', async () => {
    const data = await volume('redis-data')
    await start('redis', {
      Image: tagOf('redis'),
      Cmd: ['redis-server', '--protected-mode', 'no', '--appendonly', 'yes', '--dir', '/data', '--save', ''],
      ExposedPorts: {'6379/tcp': {}},
      HostConfig: {
        PortBindings: published({6379: ports.redis}),
        Mounts: [{Type: 'volume', Source: data, Target: '/data'}],
      },
    })
    const redis = new Redis({
      host: '127.0.0.1',
      port: ports.redis,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    })
    try {
      assert.equal(
        await waitFor('redis PING', async () => {
          if (redis.status !== 'ready') await redis.connect()
          return redis.ping()
        }),
        'PONG',
      )
      await redis.set('images-test', 'kept')
      const config = await redis.config('GET', 'appendonly')
      assert.deepEqual(config, ['appendonly', 'yes'])
      assert.deepEqual(await redis.config('GET', 'dir'), ['dir', '/data'])
    } finally {
      redis.disconnect()
    }
  })

  it('rabbitmq answers its management health check and AMQP, and logs to stdout', async () => {
    const dir = path.join(home, 'rabbitmq')
    mkdir(dir)
    writeFileSync(
      path.join(dir, 'rabbitmq.conf'),
      [
        'loopback_users.guest = false',
        'listeners.tcp.default = 5672',
        'management.tcp.port = 15672',
        'log.console = true',
        'log.console.level = info',
        'log.file = false',
        '',
      ].join('\n'),
    )
    writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_management,rabbitmq_prometheus].\n')
    const data = await volume('rabbitmq-data')
    const container = await start('rabbitmq', {
      Image: tagOf('rabbitmq'),
      Hostname: 'rabbitmq',
      ExposedPorts: {'5672/tcp': {}, '15672/tcp': {}},
      HostConfig: {
        PortBindings: published({5672: ports.amqp, 15672: ports.management}),
        Binds: [
          `${path.join(dir, 'rabbitmq.conf')}:/etc/rabbitmq/rabbitmq.conf:ro`,
          `${path.join(dir, 'enabled_plugins')}:/etc/rabbitmq/enabled_plugins:ro`,
        ],
        Mounts: [{Type: 'volume', Source: data, Target: '/var/lib/rabbitmq'}],
      },
      NetworkingConfig: {EndpointsConfig: {[network]: {Aliases: ['rabbitmq']}}},
    })
    const health = await waitFor(
      'GET /api/healthchecks/node',
      async () => {
        const response = await fetch(`http://127.0.0.1:${ports.management}/api/healthchecks/node`, {
          headers: {authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`},
        })
        if (response.status !== 200) throw new Error(`status ${response.status}`)
        return (await response.json()) as {status: string}
      },
      120_000,
    )
    assert.equal(health.status, 'ok')
    const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${ports.amqp}`)
    try {
      const channel = await connection.createChannel()
      const queue = await channel.assertQueue('', {exclusive: true})
      assert.match(queue.queue, /^amq\.gen-/)
    } finally {
      await connection.close()
    }
    const logs = await logsOf(container)
    assert.match(logs, /Server startup complete/)
    assert.match(logs, /rabbit@rabbitmq/)
  })

  it('prometheus answers /-/ready and writes its TSDB in /prometheus', async () => {
    const dir = path.join(home, 'prometheus')
    mkdir(dir)
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      'global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ["127.0.0.1:9090"]\n',
    )
    const container = await start('prometheus', {
      Image: tagOf('prometheus'),
      Cmd: [
        '--config.file=/etc/prometheus/prometheus.yml',
        '--storage.tsdb.path=/prometheus',
        '--web.listen-address=0.0.0.0:9090',
      ],
      ExposedPorts: {'9090/tcp': {}},
      HostConfig: {
        PortBindings: published({9090: ports.prometheus}),
        Binds: [`${path.join(dir, 'prometheus.yml')}:/etc/prometheus/prometheus.yml:ro`],
      },
    })
    const ready = await waitFor('GET /-/ready', async () => {
      const response = await fetch(`http://127.0.0.1:${ports.prometheus}/-/ready`)
      if (response.status !== 200) throw new Error(`status ${response.status}`)
      return response.text()
    })
    assert.match(ready, /ready/i)
    const exec = await container.exec({Cmd: ['ls', '/prometheus'], AttachStdout: true, AttachStderr: true})
    const listing = await execOutput(exec)
    assert.match(listing, /wal/, 'the TSDB is in /prometheus')
  })

  it('services runs Node 20 from /app', async () => {
    const container = await start('node-version', {
      Image: tagOf('services'),
      Entrypoint: ['node'],
      Cmd: ['--version'],
    })
    const {StatusCode} = (await container.wait()) as {StatusCode: number}
    const output = await logsOf(container)
    assert.equal(StatusCode, 0, output)
    assert.match(output.trim(), /^v20\./)
    const info = await container.inspect()
    assert.equal(info.Config.WorkingDir, '/app')
  })

  it('services runs `bin/service.js sales`, which answers /health through the rabbitmq container', async () => {
    const container = await start('sales', {
      Image: tagOf('services'),
      Cmd: ['sales'],
      Env: [
        'HOST=0.0.0.0',
        'PORT=3003',
        'AMQP_URL=amqp://guest:guest@rabbitmq:5672',
        'DATA_DIR=/tmp/sales',
        'LOG_LEVEL=info',
      ],
      ExposedPorts: {'3003/tcp': {}},
      HostConfig: {PortBindings: published({3003: ports.sales})},
      NetworkingConfig: {EndpointsConfig: {[network]: {}}},
    })
    const info = await container.inspect()
    assert.deepEqual(info.Config.Entrypoint, ['node', '/app/bin/service.js'])
    const health = await waitFor(
      'sales GET /health with ok: true',
      async () => {
        const response = await fetch(`http://127.0.0.1:${ports.sales}/health`)
        const body = (await response.json()) as {ok?: boolean}
        if (response.status !== 200 || body.ok !== true)
          throw new Error(`status ${response.status}: ${JSON.stringify(body)}`)
        return body
      },
      60_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\nsales logs:\n${await logsOf(container)}`)
    })
    assert.equal(health.ok, true)
  })
})

function mkdir(dir: string): void {
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir, {recursive: true})
}

/** A container's log stream without the engine's 8-byte frame headers (no TTY: stdout and stderr multiplexed). */
function demux(buffer: Buffer): string {
  let text = ''
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4)
    text += buffer.subarray(offset + 8, offset + 8 + size).toString('utf8')
    offset += 8 + size
  }
  return text
}

async function execOutput(exec: Docker.Exec): Promise<string> {
  const stream = await exec.start({hijack: true, stdin: false})
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return demux(Buffer.concat(chunks))
}
