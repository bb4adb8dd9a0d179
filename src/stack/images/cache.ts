import {mkdir, mkdtemp, readdir, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {liveLockHolder, releaseLock, tryLock} from '../lock.js'
import {interruptedError} from './host-command.js'

/**
 * Where built images are kept between runs, outside any one stack's $POC_HOME: the
 * debootstrapped base (`rootfs/`, made once) and one rootfs archive per component and recipe
 * hash (`images/<component>-<hash>.tar`). Work happens in `tmp/` on the same file system, and
 * lands by rename, so an interrupted build never leaves a half-written entry under its real name.
 */
export interface ImageCache {
  root: string
  rootfs: string
  /** What the base in rootfs/ was made from; written last, so a base without it is incomplete. */
  rootfsMarker: string
  imagesDir: string
  locksDir: string
  tmpDir: string
  archive(component: string, hash: string): string
}

export function imageCacheAt(root: string): ImageCache {
  const imagesDir = path.join(root, 'images')
  return {
    root,
    rootfs: path.join(root, 'rootfs'),
    rootfsMarker: path.join(root, 'rootfs.json'),
    imagesDir,
    locksDir: path.join(root, 'locks'),
    tmpDir: path.join(root, 'tmp'),
    archive: (component, hash) => path.join(imagesDir, `${component}-${hash}.tar`),
  }
}

/** `$XDG_CACHE_HOME/poc`, else `~/.cache/poc` (the XDG default). */
export function resolveImageCache(env: NodeJS.ProcessEnv = process.env): ImageCache {
  const base = env.XDG_CACHE_HOME?.trim() ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache')
  return imageCacheAt(path.join(base as string, 'poc'))
}

const pollMs = 500

/**
 * One build of a cache entry at a time across processes: a second `poc` waits for the first
 * (then finds its result) instead of building the same thing beside it. A lock whose holder is
 * gone (killed mid-build) is taken over.
 */
export async function withCacheLock<T>(
  cache: ImageCache,
  name: string,
  options: {what: string; signal?: AbortSignal; onWait?: (holderPid: number) => void},
  work: () => Promise<T>,
): Promise<T> {
  await mkdir(cache.locksDir, {recursive: true})
  const file = path.join(cache.locksDir, `${name}.lock`)
  let told = false
  for (;;) {
    if (options.signal?.aborted) throw interruptedError(`waiting for the lock on ${name}`)
    const outcome = await tryLock(file, options.what)
    if (outcome === 'taken') break
    if (!told && outcome !== 'writing') options.onWait?.(outcome.pid)
    told = true
    try {
      await sleep(pollMs, undefined, {signal: options.signal})
    } catch {
      throw interruptedError(`waiting for the lock on ${name}`)
    }
  }
  try {
    return await work()
  } finally {
    await releaseLock(file)
  }
}

/** The pids holding a lock of this cache now: `prune --all` refuses to delete under a running build. */
export async function liveLockHolders(
  cache: ImageCache,
): Promise<Array<{name: string; pid: number; what: string}>> {
  const names = await readdir(cache.locksDir).catch(() => [] as string[])
  const holders: Array<{name: string; pid: number; what: string}> = []
  for (const entry of names.filter((n) => n.endsWith('.lock'))) {
    const holder = await liveLockHolder(path.join(cache.locksDir, entry))
    if (holder && holder !== 'writing')
      holders.push({name: entry.slice(0, -'.lock'.length), pid: holder.pid, what: holder.action})
  }
  return holders
}

/**
 * A fresh work directory `tmp/<prefix>-…`. Called under the entry's lock, so any other
 * `<prefix>-` directory there was left by a build that died, and goes.
 */
export async function freshWorkDir(cache: ImageCache, prefix: string): Promise<string> {
  await mkdir(cache.tmpDir, {recursive: true})
  for (const entry of await readdir(cache.tmpDir)) {
    if (entry.startsWith(`${prefix}-`))
      await rm(path.join(cache.tmpDir, entry), {recursive: true, force: true})
  }
  return mkdtemp(path.join(cache.tmpDir, `${prefix}-`))
}
