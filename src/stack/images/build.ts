import {existsSync} from 'node:fs'
import {chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {syncPath, writeFileAtomic} from '../../lib/atomic-file.js'
import {ExitCode, PocError} from '../errors.js'
import {type DebianSources, hostDebianSources, renderSourcesList} from './apt-sources.js'
import {type ImageCache, freshWorkDir, withCacheLock} from './cache.js'
import {run} from './host-command.js'
import type {ImageRecipe} from './recipes.js'
import {stageServicesPayload} from './services-payload.js'

/**
 * Building a component's rootfs archive from Debian packages, without a registry or a
 * Dockerfile builder: debootstrap a minimal base once, then per image copy it, apt-get install
 * in a chroot, trim what a container never reads, and tar it. The engine imports the tar.
 */

export interface BuildOptions {
  progress?: (line: string) => void
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
  /** The package root our services are taken from (tests point it elsewhere). */
  root?: string
}

interface BaseMarker {
  suite: string
  mirror: string
  createdAt: string
}

/** debootstrap and chroot need root; say so before anything is downloaded. */
export function requireRoot(uid = process.getuid?.()): void {
  if (uid === undefined || uid === 0) return
  throw new PocError(
    `building a local image needs root (debootstrap and chroot do), and poc runs as uid ${uid}`,
    {
      exitCode: ExitCode.unavailable,
      code: 'needs_root',
      suggestions: [
        "Build them as root once: sudo poc images build (the images then live in root's engine and cache).",
        'Or let poc up pull the official images where a registry answers (without --offline).',
      ],
    },
  )
}

/** The debootstrapped base in the cache, made once per suite (~1 min, ~200 MB) under its own lock. */
export async function ensureBaseRootfs(
  cache: ImageCache,
  suite: string,
  options: BuildOptions = {},
): Promise<DebianSources> {
  const sources = await hostDebianSources(suite, options.env)
  const valid = async () => (await readMarker(cache))?.suite === suite && existsSync(cache.rootfs)
  if (await valid()) return sources
  requireRoot()
  await withCacheLock(
    cache,
    'rootfs',
    {
      what: `debootstrap ${suite}`,
      signal: options.signal,
      onWait: (pid) => options.progress?.(`waiting for pid ${pid}, which is debootstrapping the base`),
    },
    async () => {
      if (await valid()) return
      const work = await freshWorkDir(cache, 'rootfs')
      try {
        const target = path.join(work, 'rootfs')
        options.progress?.(`debootstrap ${suite} from ${sources.mirror} (once, ~1 min)`)
        await run('debootstrap', ['--variant=minbase', suite, target, sources.mirror], {
          signal: options.signal,
          env: hostToolEnv(options.env),
        })
        await rm(cache.rootfsMarker, {force: true})
        await rm(cache.rootfs, {recursive: true, force: true})
        await rename(target, cache.rootfs)
        const marker: BaseMarker = {suite, mirror: sources.mirror, createdAt: new Date().toISOString()}
        await writeFileAtomic(cache.rootfsMarker, `${JSON.stringify(marker, null, 2)}\n`)
      } finally {
        await rm(work, {recursive: true, force: true})
      }
    },
  )
  return sources
}

async function readMarker(cache: ImageCache): Promise<BaseMarker | undefined> {
  try {
    return JSON.parse(await readFile(cache.rootfsMarker, 'utf8')) as BaseMarker
  } catch {
    return undefined
  }
}

/**
 * Builds the recipe's rootfs and writes it to `archive` (by rename: complete or absent). The
 * caller holds the component's lock.
 */
export async function buildRootfsArchive(
  cache: ImageCache,
  recipe: ImageRecipe,
  archive: string,
  options: BuildOptions = {},
): Promise<void> {
  requireRoot()
  const sources = await ensureBaseRootfs(cache, recipe.suite, options)
  const work = await freshWorkDir(cache, recipe.component)
  try {
    const rootfs = path.join(work, 'rootfs')
    await run('cp', ['-a', cache.rootfs, rootfs], {signal: options.signal})
    if (recipe.packages.length > 0) await aptInstall(rootfs, recipe.packages, sources, options)
    await trim(rootfs, options)
    for (const item of recipe.remove ?? []) await rm(path.join(rootfs, item), {recursive: true, force: true})
    for (const dir of recipe.directories) await mkdir(path.join(rootfs, dir), {recursive: true})
    for (const [file, {content, mode}] of Object.entries(recipe.files ?? {})) {
      await mkdir(path.dirname(path.join(rootfs, file)), {recursive: true})
      await writeFile(path.join(rootfs, file), content, {mode})
      await chmod(path.join(rootfs, file), mode)
    }
    if (recipe.payload === 'node-services') await stageServicesPayload(rootfs, options)
    const tar = path.join(work, 'rootfs.tar')
    options.progress?.('tar of the image rootfs')
    await run('tar', ['--numeric-owner', '-C', rootfs, '-cf', tar, '.'], {signal: options.signal})
    await mkdir(path.dirname(archive), {recursive: true})
    await syncPath(tar)
    await rename(tar, archive)
    await syncPath(path.dirname(archive))
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}

/** PATH and locale for host tools run as root, whatever the caller's environment carries. */
function hostToolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    ...(env.http_proxy ? {http_proxy: env.http_proxy} : {}),
    ...(env.https_proxy ? {https_proxy: env.https_proxy} : {}),
  }
}

async function aptInstall(
  rootfs: string,
  packages: string[],
  sources: DebianSources,
  options: BuildOptions,
): Promise<void> {
  // Packages' maintainer scripts must not start their services inside the chroot.
  const policy = path.join(rootfs, 'usr', 'sbin', 'policy-rc.d')
  await writeFile(policy, '#!/bin/sh\nexit 101\n')
  await chmod(policy, 0o755)
  await copyFile('/etc/resolv.conf', path.join(rootfs, 'etc', 'resolv.conf')).catch(() => undefined)
  await writeFile(path.join(rootfs, 'etc', 'apt', 'sources.list'), renderSourcesList(sources))
  const env = {...hostToolEnv(options.env), DEBIAN_FRONTEND: 'noninteractive'}
  const apt = (args: string[]) =>
    run('chroot', [rootfs, 'apt-get', '-q', '-o', 'Dpkg::Use-Pty=0', ...args], {signal: options.signal, env})
  options.progress?.(`apt-get update (${sources.sources.map((s) => s.uri).join(', ')})`)
  await apt(['update'])
  options.progress?.(`apt-get install ${packages.join(' ')}`)
  await apt(['install', '-y', '--no-install-recommends', ...packages])
  await apt(['clean'])
  await rm(policy, {force: true})
}

/** What no container reads: package lists and caches, docs (copyright files stay), man pages, translations. */
async function trim(rootfs: string, options: BuildOptions): Promise<void> {
  const under = (...parts: string[]) => path.join(rootfs, ...parts)
  for (const dir of [under('var/lib/apt/lists'), under('var/cache/apt'), under('usr/share/man')]) {
    await rm(dir, {recursive: true, force: true})
    await mkdir(dir, {recursive: true})
  }
  await mkdir(under('var/lib/apt/lists/partial'), {recursive: true})
  await run('find', [under('usr/share/doc'), '-type', 'f', '!', '-name', 'copyright', '-delete'], options)
  await run(
    'find',
    [
      under('usr/share/locale'),
      '-mindepth',
      '1',
      '-maxdepth',
      '1',
      '-type',
      'd',
      '-exec',
      'rm',
      '-rf',
      '{}',
      '+',
    ],
    options,
  )
  // The engine mounts its own resolv.conf; the build host's has no business in the image.
  await writeFile(under('etc/resolv.conf'), '')
  await rm(under('var/log/apt'), {recursive: true, force: true})
  await rm(under('var/log/dpkg.log'), {force: true})
}

export async function fileSize(file: string): Promise<number | undefined> {
  return stat(file).then(
    (s) => s.size,
    () => undefined,
  )
}
