import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {PocError} from '../../src/stack/errors.js'
import {readStat} from '../../src/stack/proc.js'
import {
  debianSourcesFor,
  defaultDebianSources,
  hostDebianSources,
  parseAptSources,
  renderSourcesList,
} from '../../src/stack/images/apt-sources.js'
import {requireRoot} from '../../src/stack/images/build.js'
import {freshWorkDir, imageCacheAt, withCacheLock} from '../../src/stack/images/cache.js'
import type Docker from 'dockerode'
import {
  importedImageId,
  imageRuntimeRequest,
  pruneLocalImages,
  pruneVerdict,
} from '../../src/stack/images/local-images.js'
import {
  type ImageRecipe,
  canonicalJson,
  imageChanges,
  imageRecipes,
  localImageComponents,
  localImageTag,
  parseLocalImageComponents,
  parseLocalImageTag,
  recipeHash,
} from '../../src/stack/images/recipes.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'poc-unit-images-'))
after(() => rmSync(scratch, {recursive: true, force: true}))

/** A package root with what the services image takes, and things it does not. */
function fakeRoot(name: string): string {
  const root = path.join(scratch, name)
  for (const [file, content] of Object.entries({
    'bin/run.js': '#!/usr/bin/env node\n',
    'bin/service.js': '#!/usr/bin/env node\n',
    'dist/commands/service/run.js': 'export default 1\n',
    'dist/services/run-service.js': 'export const runService = 1\n',
    'dist/services/sales/main.js': 'export const main = 1\n',
    'dist/services-bundle/run-service.js': 'export const runService = 1\n',
    'fixtures/pm/seed.json': '[]\n',
    'package.json': '{"name":"poc"}\n',
    'package-lock.json': '{"lockfileVersion":3}\n',
    'src/services/sales/main.ts': 'export const main = 1\n',
    'README.md': '# poc\n',
  })) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
    writeFileSync(path.join(root, file), content)
  }
  return root
}

describe('local image recipes', () => {
  it('hashes a recipe the same on every call, whatever the order its keys were written in', () => {
    assert.equal(recipeHash('redis'), recipeHash('redis'))
    const reordered = Object.fromEntries(
      Object.entries(imageRecipes.redis).reverse(),
    ) as unknown as ImageRecipe
    assert.equal(recipeHash('redis', {recipe: reordered}), recipeHash('redis'))
    assert.equal(canonicalJson({b: 1, a: [{d: 2, c: 3}]}), '{"a":[{"c":3,"d":2}],"b":1}')
  })

  it('gives each component its own hash, and a new one when its recipe changes', () => {
    const root = fakeRoot('distinct')
    const hashes = localImageComponents.map((c) => recipeHash(c, {root}))
    assert.equal(new Set(hashes).size, localImageComponents.length)
    const base = imageRecipes.rabbitmq
    const variants: ImageRecipe[] = [
      {...base, packages: [...base.packages, 'erlang-x509']},
      {...base, env: {...base.env, RABBITMQ_MNESIA_BASE: '/elsewhere'}},
      {...base, entrypoint: ['/usr/sbin/rabbitmq-server']},
      {...base, suite: 'trixie'},
      {...base, expose: [5672]},
    ]
    for (const recipe of variants) assert.notEqual(recipeHash('rabbitmq', {recipe}), recipeHash('rabbitmq'))
  })

  it('tags images localhost/poc/<component>:<12 hex digits>, and reads such tags back', () => {
    const root = fakeRoot('tags')
    for (const component of localImageComponents) {
      const tag = localImageTag(component, {root})
      assert.match(tag, new RegExp(`^localhost/poc/${component}:[0-9a-f]{12}$`))
      assert.deepEqual(parseLocalImageTag(tag), {component, hash: tag.slice(-12)})
    }
    assert.equal(parseLocalImageTag('localhost/poc/redis-test:1'), undefined)
    assert.equal(parseLocalImageTag('docker.io/library/redis:7-alpine'), undefined)
    assert.equal(parseLocalImageTag('localhost/poc/grafana:0123456789ab'), undefined)
  })

  it('changes the services hash with dist/ and the lockfile, and only with what goes into /app', () => {
    const root = fakeRoot('services')
    const hash = () => recipeHash('services', {root})
    const first = hash()
    assert.equal(hash(), first)

    // Not in the image: sources, docs, mtimes.
    writeFileSync(path.join(root, 'src/services/sales/main.ts'), 'export const main = 2\n')
    writeFileSync(path.join(root, 'README.md'), '# changed\n')
    utimesSync(path.join(root, 'dist/services/sales/main.js'), new Date(0), new Date(0))
    assert.equal(hash(), first)

    writeFileSync(path.join(root, 'dist/services/sales/main.js'), 'export const main = 2\n')
    const afterDist = hash()
    assert.notEqual(afterDist, first)

    writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}\n')
    const afterLock = hash()
    assert.notEqual(afterLock, afterDist)

    writeFileSync(path.join(root, 'dist/services/new.js'), '')
    const afterNew = hash()
    assert.notEqual(afterNew, afterLock, 'a new file in dist/ changes it')

    // What bin/service.js runs in the image.
    writeFileSync(path.join(root, 'dist/services-bundle/run-service.js'), 'export const runService = 2\n')
    assert.notEqual(hash(), afterNew, 'the services bundle changes it')
  })

  it('refuses to hash the services image without a built dist/, and says to build it', () => {
    const refused = (root: string) =>
      assert.throws(
        () => localImageTag('services', {root}),
        (error: unknown) =>
          error instanceof PocError &&
          error.code === 'dist_missing' &&
          /npm run build/.test(error.suggestions.join()),
      )
    const root = fakeRoot('unbuilt')
    rmSync(path.join(root, 'dist'), {recursive: true})
    refused(root)
    // tsc's output without the bundle bin/service.js runs (an older build) is not a built dist/ either.
    const unbundled = fakeRoot('unbundled')
    rmSync(path.join(unbundled, 'dist/services-bundle'), {recursive: true})
    refused(unbundled)
  })

  it('renders the recipe as the import changes the Engine API applies', () => {
    assert.deepEqual(imageChanges(imageRecipes.redis, 'abcdefabcdef'), [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'EXPOSE 6379/tcp',
      'WORKDIR /data',
      'CMD ["redis-server","--protected-mode","no"]',
      'LABEL poc.component=redis',
      'LABEL poc.recipe=abcdefabcdef',
    ])
    const rabbitmq = imageChanges(imageRecipes.rabbitmq, '000000000000')
    assert.ok(rabbitmq.includes('ENTRYPOINT ["/usr/lib/rabbitmq/bin/rabbitmq-server"]'))
    assert.ok(rabbitmq.includes('ENV HOME=/var/lib/rabbitmq'))
    assert.ok(rabbitmq.includes('ENV RABBITMQ_MNESIA_BASE=/var/lib/rabbitmq/mnesia'))
    assert.ok(!rabbitmq.some((c) => c.startsWith('CMD')), 'rabbitmq has no CMD')
    const services = imageChanges(imageRecipes.services, '000000000000')
    assert.ok(services.includes('ENTRYPOINT ["node","/app/bin/service.js"]'))
    assert.ok(services.includes('WORKDIR /app'))
    assert.ok(imageChanges(imageRecipes.prometheus, '0').includes('ENTRYPOINT ["/usr/bin/prometheus"]'))
  })

  it('parses component names, all four by default, and a wrong one as a usage error', () => {
    assert.deepEqual(parseLocalImageComponents([]), [...localImageComponents])
    assert.deepEqual(parseLocalImageComponents(['redis', 'redis', 'services']), ['redis', 'services'])
    assert.throws(
      () => parseLocalImageComponents(['redis', 'grafana']),
      (error: unknown) => error instanceof PocError && error.exitCode === 2 && /grafana/.test(error.message),
    )
  })
})

describe('the Debian mirror an image is built from', () => {
  const deb822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
`
  const oneLine = `# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main contrib
deb http://mirror.example/debian bookworm-updates main
deb http://security.example/debian-security bookworm-security main
deb http://mirror.example/debian bookworm-backports main
`

  it('reads deb822 (debian.sources) stanzas, skipping comments and disabled ones', () => {
    assert.deepEqual(parseAptSources(deb822), [
      {uri: 'http://mirror.example/debian', suites: ['bookworm', 'bookworm-updates']},
      {uri: 'http://security.example/debian-security', suites: ['bookworm-security']},
    ])
  })

  it('reads one-line (sources.list) entries, with options, skipping comments and deb-src', () => {
    assert.deepEqual(
      parseAptSources(oneLine).map((e) => `${e.uri} ${e.suites.join(',')}`),
      [
        'http://mirror.example/debian bookworm',
        'http://mirror.example/debian bookworm-updates',
        'http://security.example/debian-security bookworm-security',
        'http://mirror.example/debian bookworm-backports',
      ],
    )
  })

  it('takes the mirror and the release, -updates and -security entries for the suite, in both formats', () => {
    for (const text of [deb822, oneLine]) {
      const sources = debianSourcesFor(parseAptSources(text), 'bookworm', 'test')
      assert.equal(sources?.mirror, 'http://mirror.example/debian')
      assert.equal(
        renderSourcesList(sources!),
        'deb http://mirror.example/debian bookworm main\n' +
          'deb http://mirror.example/debian bookworm-updates main\n' +
          'deb http://security.example/debian-security bookworm-security main\n',
      )
    }
  })

  it('ignores a host of another release (an Ubuntu host) and falls back to deb.debian.org', async () => {
    const file = path.join(scratch, 'ubuntu.sources')
    writeFileSync(
      file,
      'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: noble noble-updates\nComponents: main\n',
    )
    const sources = await hostDebianSources('bookworm', {}, [file, path.join(scratch, 'absent.list')])
    assert.deepEqual(sources, defaultDebianSources('bookworm'))
    assert.equal(sources.mirror, 'http://deb.debian.org/debian')
    assert.match(renderSourcesList(sources), /debian-security bookworm-security/)
  })

  it('reads the first host file that has the suite, and POC_DEBIAN_MIRROR over all of them', async () => {
    const list = path.join(scratch, 'sources.list')
    writeFileSync(list, oneLine)
    const fromHost = await hostDebianSources('bookworm', {}, [path.join(scratch, 'none.sources'), list])
    assert.equal(fromHost.mirror, 'http://mirror.example/debian')
    assert.equal(fromHost.from, list)
    const overridden = await hostDebianSources('bookworm', {POC_DEBIAN_MIRROR: 'file:///srv/mirror/'}, [list])
    assert.deepEqual(overridden, {
      mirror: 'file:///srv/mirror',
      sources: [{uri: 'file:///srv/mirror', suites: ['bookworm']}],
      from: 'POC_DEBIAN_MIRROR',
    })
  })
})

describe('building and caching local images', () => {
  it('asks for root before debootstrap or chroot, saying what to do', () => {
    assert.doesNotThrow(() => requireRoot(0))
    assert.throws(
      () => requireRoot(1000),
      (error: unknown) =>
        error instanceof PocError &&
        error.code === 'needs_root' &&
        error.exitCode === 3 &&
        /uid 1000/.test(error.message) &&
        /sudo poc images build/.test(error.suggestions.join(' ')),
    )
  })

  it("finds the image id in either engine's import answer", () => {
    const id = 'a'.repeat(64)
    assert.equal(importedImageId([{status: '', progress: '', id}]), id)
    assert.equal(importedImageId([{status: `sha256:${id}`}]), `sha256:${id}`)
    assert.equal(importedImageId([{status: 'Downloading'}]), undefined)
  })

  it('serialises builds of one entry: the second waits for the first and then runs', async () => {
    const cache = imageCacheAt(path.join(scratch, 'cache-serial'))
    const order: string[] = []
    const work = (name: string, ms: number) => async () => {
      order.push(`${name} start`)
      await new Promise((resolve) => setTimeout(resolve, ms))
      order.push(`${name} end`)
    }
    let waited = 0
    await Promise.all([
      withCacheLock(cache, 'redis', {what: 'first'}, work('first', 700)),
      new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        withCacheLock(cache, 'redis', {what: 'second', onWait: () => waited++}, work('second', 1)),
      ),
    ])
    assert.deepEqual(order, ['first start', 'first end', 'second start', 'second end'])
    assert.equal(waited, 1)
    assert.deepEqual(readdirSync(cache.locksDir), [], 'no lock is left behind')
  })

  it('takes over a lock its holder left when it died, and stops waiting when aborted', async () => {
    const cache = imageCacheAt(path.join(scratch, 'cache-stale'))
    mkdirSync(cache.locksDir, {recursive: true})
    writeFileSync(path.join(cache.locksDir, 'redis.lock'), JSON.stringify({pid: 2 ** 22 + 1, startTicks: 1}))
    assert.equal(await withCacheLock(cache, 'redis', {what: 'test'}, async () => 'ran'), 'ran')

    writeFileSync(
      path.join(cache.locksDir, 'redis.lock'),
      JSON.stringify({pid: process.pid, startTicks: readStat(process.pid)?.startTicks}),
    )
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    await assert.rejects(
      withCacheLock(cache, 'redis', {what: 'test', signal: controller.signal}, async () => 'ran'),
      (error: unknown) => error instanceof PocError && error.exitCode === 130,
    )
  })

  it('clears what a dead build of the same entry left in tmp/, and nothing of other entries', async () => {
    const cache = imageCacheAt(path.join(scratch, 'cache-tmp'))
    mkdirSync(path.join(cache.tmpDir, 'redis-old', 'rootfs'), {recursive: true})
    mkdirSync(path.join(cache.tmpDir, 'rabbitmq-busy'), {recursive: true})
    const work = await freshWorkDir(cache, 'redis')
    assert.ok(existsSync(work))
    assert.ok(!existsSync(path.join(cache.tmpDir, 'redis-old')))
    assert.ok(existsSync(path.join(cache.tmpDir, 'rabbitmq-busy')))
  })
})

describe('pruning local images', () => {
  const hashes = new Map([
    ['redis', 'aaaaaaaaaaaa'],
    ['rabbitmq', 'bbbbbbbbbbbb'],
  ] as const)
  const notes = new Map([
    ['services', 'the services image is built from dist/, and /x has no built dist/'],
  ] as const)

  it('removes stale tags, leaves current and foreign ones, keeps those whose recipe is unknown', () => {
    const verdict = (tag: string, all = false) => pruneVerdict(tag, new Map(hashes), new Map(notes), all)
    assert.deepEqual(verdict('localhost/poc/redis:aaaaaaaaaaaa'), {action: 'leave'})
    assert.deepEqual(verdict('localhost/poc/redis:000000000000'), {action: 'remove'})
    assert.deepEqual(verdict('localhost/poc/redis-test:1'), {action: 'leave'})
    assert.deepEqual(verdict('docker.io/library/redis:7-alpine', true), {action: 'leave'})
    const unknown = verdict('localhost/poc/services:000000000000')
    assert.equal(unknown.action, 'keep')
    assert.match((unknown as {reason: string}).reason, /no built dist/)
    assert.deepEqual(verdict('localhost/poc/redis:aaaaaaaaaaaa', true), {action: 'remove'})
    assert.deepEqual(verdict('localhost/poc/services:000000000000', true), {action: 'remove'})
  })

  it('removes cached archives of old recipes and keeps the current ones', async () => {
    const root = fakeRoot('prune')
    const cache = imageCacheAt(path.join(scratch, 'cache-prune'))
    mkdirSync(cache.imagesDir, {recursive: true})
    const current = cache.archive('redis', recipeHash('redis'))
    const currentServices = cache.archive('services', recipeHash('services', {root}))
    const stale = cache.archive('redis', '000000000000')
    for (const file of [current, currentServices, stale]) writeFileSync(file, 'x'.repeat(1000))
    const noImages = {listImages: async () => []} as unknown as Docker
    const result = await pruneLocalImages(noImages, {cache, root})
    assert.deepEqual(result.removedArchives, [stale])
    assert.equal(result.freedBytes, 1000)
    assert.ok(existsSync(current) && existsSync(currentServices) && !existsSync(stale))

    const again = await pruneLocalImages(noImages, {cache, root})
    assert.deepEqual(again.removedArchives, [], 'pruning twice is success, with nothing left to do')

    const all = await pruneLocalImages(noImages, {cache, root, all: true})
    assert.equal(all.cacheRemoved, true)
    assert.ok(!existsSync(cache.root))
  })
})

describe('choosing the engine for images', () => {
  it('takes --runtime, else POC_RUNTIME when it names an engine, else auto', () => {
    assert.equal(imageRuntimeRequest('docker', {POC_RUNTIME: 'podman'}), 'docker')
    assert.equal(imageRuntimeRequest(undefined, {POC_RUNTIME: 'podman'}), 'podman')
    assert.equal(imageRuntimeRequest(undefined, {POC_RUNTIME: 'native'}), 'auto')
    assert.equal(imageRuntimeRequest(undefined, {}), 'auto')
  })
})
