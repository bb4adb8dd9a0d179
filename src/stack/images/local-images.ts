import {createReadStream, existsSync} from 'node:fs'
import {readdir, rm} from 'node:fs/promises'
import path from 'node:path'
import type Docker from 'dockerode'
import {ExitCode, PocError} from '../errors.js'
import type {PocHome} from '../home.js'
import {stopProcesses} from '../native.js'
import {
  type Engine,
  type EngineRuntimeName,
  engineErrorMessage,
  findRunningEngine,
  openEngine,
  podmanBinary,
} from '../engine/connect.js'
import {type BuildOptions, buildRootfsArchive, fileSize} from './build.js'
import {type ImageCache, liveLockHolders, resolveImageCache, withCacheLock} from './cache.js'
import {interruptedError} from './host-command.js'
import {
  type LocalImageComponent,
  imageChanges,
  imageRecipes,
  localImageComponents,
  localImageRepo,
  localImageRepoPrefix,
  parseLocalImageTag,
  recipeHash,
} from './recipes.js'

export interface EnsureLocalImageOptions extends BuildOptions {
  /** Build again even when the engine or the cache has the current tag. */
  rebuild?: boolean
  cache?: ImageCache
}

/** Where the image came from: already in the engine, imported from the cache, or built now. */
export type LocalImageSource = 'engine' | 'cache' | 'built'

export interface EnsuredLocalImage {
  component: LocalImageComponent
  tag: string
  built: boolean
  source: LocalImageSource
  durationMs: number
  sizeBytes: number
}

const megabyte = 1024 * 1024

export function formatMegabytes(bytes: number): string {
  return `${Math.round(bytes / megabyte)} MB`
}

/**
 * The component's current local image in the engine: at once when it is there, else imported
 * from the cached archive, else built (and cached). One process builds a component at a time;
 * another waits and then finds the result.
 */
export async function ensureLocalImage(
  docker: Docker,
  component: LocalImageComponent,
  options: EnsureLocalImageOptions = {},
): Promise<EnsuredLocalImage> {
  const started = Date.now()
  const hash = recipeHash(component, {root: options.root})
  const tag = `${localImageRepo(component)}:${hash}`
  const cache = options.cache ?? resolveImageCache(options.env)
  const finish = async (source: LocalImageSource): Promise<EnsuredLocalImage> => ({
    component,
    tag,
    built: source === 'built',
    source,
    durationMs: Date.now() - started,
    sizeBytes: (await inspectImage(docker, tag))?.Size ?? 0,
  })
  if (!options.rebuild && (await inspectImage(docker, tag))) return finish('engine')
  return withCacheLock(
    cache,
    component,
    {
      what: `build ${tag}`,
      signal: options.signal,
      onWait: (pid) => options.progress?.(`waiting for pid ${pid}, which is building this image`),
    },
    async () => {
      const archive = cache.archive(component, hash)
      if (!options.rebuild) {
        if (await inspectImage(docker, tag)) return finish('engine')
        if (existsSync(archive)) {
          await importArchive(docker, component, hash, archive, options)
          return finish('cache')
        }
      }
      await buildRootfsArchive(cache, imageRecipes[component], archive, options)
      await importArchive(docker, component, hash, archive, options)
      return finish('built')
    },
  )
}

async function inspectImage(docker: Docker, nameOrId: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(nameOrId).inspect()
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode === 404) return undefined
    throw engineError(`could not look up ${nameOrId}`, error)
  }
}

function engineError(what: string, error: unknown): PocError {
  return new PocError(`${what}: ${engineErrorMessage(error)}`, {
    exitCode: ExitCode.unavailable,
    code: 'engine_error',
    cause: error,
  })
}

/**
 * POST /images/create?fromSrc=- with the recipe's changes, then the tag: podman ignores
 * repo and tag on an import, so the image is tagged by id afterwards (docker too, for one path).
 * A rebuilt image takes the tag over; the one it replaces goes when nothing else uses it.
 */
async function importArchive(
  docker: Docker,
  component: LocalImageComponent,
  hash: string,
  archive: string,
  options: EnsureLocalImageOptions,
): Promise<void> {
  const tag = `${localImageRepo(component)}:${hash}`
  options.progress?.(`importing ${formatMegabytes((await fileSize(archive)) ?? 0)}`)
  const previous = await inspectImage(docker, tag)
  let events: Array<Record<string, unknown>>
  try {
    const stream = await docker.importImage(createReadStream(archive), {
      changes: imageChanges(imageRecipes[component], hash),
      abortSignal: options.signal,
    })
    events = await new Promise((resolve, reject) =>
      docker.modem.followProgress(stream, (error: Error | null, output: Array<Record<string, unknown>>) =>
        error ? reject(error) : resolve(output),
      ),
    )
  } catch (error) {
    if (options.signal?.aborted) throw interruptedError(`importing ${tag}`)
    throw engineError(`the engine did not import ${archive}`, error)
  }
  const failed = events.find((e) => typeof e.error === 'string' || typeof e.errorDetail === 'object')
  const id = importedImageId(events)
  if (failed || !id) {
    throw new PocError(`the engine did not import ${archive}`, {
      exitCode: ExitCode.unavailable,
      code: 'engine_error',
      details: events.map((e) => JSON.stringify(e)).slice(-5),
    })
  }
  try {
    await docker.getImage(id).tag({repo: localImageRepo(component), tag: hash})
  } catch (error) {
    throw engineError(`could not tag image ${id} as ${tag}`, error)
  }
  if (previous && previous.Id !== id && (previous.RepoTags ?? []).every((t) => t === tag)) {
    await docker
      .getImage(previous.Id)
      .remove()
      .catch(() => undefined)
  }
}

/** The image id in an import's progress: podman answers `{"id": …}`, docker `{"status": "sha256:…"}`. */
export function importedImageId(events: Array<Record<string, unknown>>): string | undefined {
  const looksLikeId = (value: unknown): value is string =>
    typeof value === 'string' && /^(sha256:)?[0-9a-f]{64}$/.test(value.trim())
  for (const event of [...events].reverse()) {
    if (looksLikeId(event.id)) return event.id.trim()
    if (looksLikeId(event.status)) return event.status.trim()
  }
  return undefined
}

export interface LocalImageInfo {
  component: LocalImageComponent
  tag: string
  id: string
  sizeBytes: number
  createdAt: string
  /** Built from today's recipe (undefined when that is unknown: the services image without a built dist/). */
  current: boolean | undefined
  /** Its archive is in the cache, so removing it from the engine costs an import, not a build. */
  cached: boolean
}

export interface LocalImageComponentStatus {
  component: LocalImageComponent
  /** The tag today's recipe gives, undefined when it cannot be computed (see note). */
  tag?: string
  inEngine: boolean
  cached: boolean
  note?: string
}

export interface LocalImageList {
  cacheDir: string
  images: LocalImageInfo[]
  components: LocalImageComponentStatus[]
}

interface CurrentTags {
  hashes: Map<LocalImageComponent, string>
  notes: Map<LocalImageComponent, string>
}

function currentTags(root?: string): CurrentTags {
  const hashes = new Map<LocalImageComponent, string>()
  const notes = new Map<LocalImageComponent, string>()
  for (const component of localImageComponents) {
    try {
      hashes.set(component, recipeHash(component, {root}))
    } catch (error) {
      if (!(error instanceof PocError)) throw error
      notes.set(component, `${error.message} (${error.suggestions.join(' ')})`)
    }
  }
  return {hashes, notes}
}

async function engineLocalImages(docker: Docker): Promise<Docker.ImageInfo[]> {
  try {
    return (await docker.listImages()).filter((image) =>
      (image.RepoTags ?? []).some((t) => t.startsWith(localImageRepoPrefix)),
    )
  } catch (error) {
    throw engineError("could not list the engine's images", error)
  }
}

/** poc's local images in the engine, and for each recipe whether its current image is built and cached. */
export async function listLocalImages(
  docker: Docker,
  options: {env?: NodeJS.ProcessEnv; root?: string; cache?: ImageCache} = {},
): Promise<LocalImageList> {
  const cache = options.cache ?? resolveImageCache(options.env)
  const {hashes, notes} = currentTags(options.root)
  const images: LocalImageInfo[] = []
  for (const image of await engineLocalImages(docker)) {
    for (const tag of image.RepoTags ?? []) {
      const parsed = parseLocalImageTag(tag)
      if (!parsed) continue
      const current = hashes.get(parsed.component)
      images.push({
        component: parsed.component,
        tag,
        id: image.Id,
        sizeBytes: image.Size,
        createdAt: new Date(image.Created * 1000).toISOString(),
        current: current === undefined ? undefined : current === parsed.hash,
        cached: existsSync(cache.archive(parsed.component, parsed.hash)),
      })
    }
  }
  images.sort((a, b) => a.component.localeCompare(b.component) || b.createdAt.localeCompare(a.createdAt))
  const components = localImageComponents.map((component): LocalImageComponentStatus => {
    const hash = hashes.get(component)
    if (hash === undefined) return {component, inEngine: false, cached: false, note: notes.get(component)}
    const tag = `${localImageRepo(component)}:${hash}`
    return {
      component,
      tag,
      inEngine: images.some((i) => i.tag === tag),
      cached: existsSync(cache.archive(component, hash)),
    }
  })
  return {cacheDir: cache.root, images, components}
}

export interface PruneLocalImagesResult {
  cacheDir: string
  removed: string[]
  kept: Array<{tag: string; reason: string}>
  removedArchives: string[]
  /** `all`: the whole cache directory (base rootfs included) went. */
  cacheRemoved: boolean
  freedBytes: number
}

/**
 * Default: the `localhost/poc/*` tags and cached archives that today's recipes no longer give.
 * `all`: every local image and the whole cache. Removing what is already gone is success.
 */
export async function pruneLocalImages(
  docker: Docker,
  options: {all?: boolean; env?: NodeJS.ProcessEnv; root?: string; cache?: ImageCache} = {},
): Promise<PruneLocalImagesResult> {
  const cache = options.cache ?? resolveImageCache(options.env)
  const {hashes, notes} = currentTags(options.root)
  if (options.all) {
    const busy = await liveLockHolders(cache)
    if (busy.length > 0) {
      throw new PocError(
        `pid ${busy[0]?.pid} is using the image cache (${busy[0]?.what}); prune --all would pull it from under it`,
        {
          exitCode: ExitCode.unavailable,
          code: 'locked',
          suggestions: ['Wait for it to finish, then prune again.'],
        },
      )
    }
  }
  const result: PruneLocalImagesResult = {
    cacheDir: cache.root,
    removed: [],
    kept: [],
    removedArchives: [],
    cacheRemoved: false,
    freedBytes: 0,
  }
  for (const image of await engineLocalImages(docker)) {
    for (const tag of image.RepoTags ?? []) {
      const verdict = pruneVerdict(tag, hashes, notes, options.all === true)
      if (verdict.action === 'leave') continue
      if (verdict.action === 'keep') {
        result.kept.push({tag, reason: verdict.reason})
        continue
      }
      try {
        await docker.getImage(tag).remove()
        result.removed.push(tag)
        if ((image.RepoTags ?? []).length === 1) result.freedBytes += image.Size
      } catch (error) {
        const status = (error as {statusCode?: number}).statusCode
        if (status === 404) continue
        result.kept.push({
          tag,
          reason:
            status === 409
              ? 'a container uses it (stop the stack first: poc down)'
              : engineErrorMessage(error),
        })
      }
    }
  }
  if (options.all) {
    const size = await directorySize(cache.imagesDir)
    if (existsSync(cache.root)) {
      await rm(cache.root, {recursive: true, force: true})
      result.cacheRemoved = true
      result.freedBytes += size
    }
    return result
  }
  for (const name of await readdir(cache.imagesDir).catch(() => [] as string[])) {
    const match = /^([a-z0-9-]+)-([0-9a-f]{12})\.tar$/.exec(name)
    if (!match) continue
    const component = match[1] as LocalImageComponent
    if (!hashes.has(component) || hashes.get(component) === match[2]) continue
    const file = path.join(cache.imagesDir, name)
    result.freedBytes += (await fileSize(file)) ?? 0
    await rm(file, {force: true})
    result.removedArchives.push(file)
  }
  return result
}

export type PruneVerdict = {action: 'remove'} | {action: 'leave'} | {action: 'keep'; reason: string}

/**
 * What prune does with one tag: leave what is not poc's or is current, remove the rest; keep
 * (and say why) a tag whose current recipe cannot be computed, rather than guess it stale.
 */
export function pruneVerdict(
  tag: string,
  hashes: Map<LocalImageComponent, string>,
  notes: Map<LocalImageComponent, string>,
  all: boolean,
): PruneVerdict {
  const parsed = parseLocalImageTag(tag)
  if (!parsed) return {action: 'leave'}
  if (all) return {action: 'remove'}
  const current = hashes.get(parsed.component)
  if (current === parsed.hash) return {action: 'leave'}
  if (current === undefined)
    return {
      action: 'keep',
      reason: `the current recipe is unknown: ${notes.get(parsed.component) ?? 'no hash'}`,
    }
  return {action: 'remove'}
}

async function directorySize(dir: string): Promise<number> {
  let total = 0
  for (const name of await readdir(dir).catch(() => [] as string[]))
    total += (await fileSize(path.join(dir, name))) ?? 0
  return total
}

export type ImageRuntimeRequest = 'auto' | EngineRuntimeName

/**
 * `--runtime`, else POC_RUNTIME, else auto. POC_RUNTIME may say native (CI sets it for poc up);
 * images are for an engine, so that means auto here rather than an error.
 */
export function imageRuntimeRequest(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ImageRuntimeRequest {
  const value = flag ?? env.POC_RUNTIME
  return value === 'docker' || value === 'podman' ? value : 'auto'
}

/**
 * Which engine gets the images: the one asked for, or (`auto`) podman when it is here, since
 * it is what air-gapped machines have, else docker.
 */
export async function imageEngineRuntime(
  requested: ImageRuntimeRequest,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EngineRuntimeName> {
  if (requested !== 'auto') return requested
  if (podmanBinary() || (await findRunningEngine('podman', env))) return 'podman'
  return 'docker'
}

/**
 * Runs `work` against the engine, and stops the podman service poc started for it (one a
 * running stack started stays up: openEngine returns it without `service`).
 */
export async function withImageEngine<T>(
  requested: ImageRuntimeRequest,
  home: PocHome,
  work: (engine: Engine) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const engine = await openEngine(await imageEngineRuntime(requested, env), home, env)
  try {
    return await work(engine)
  } finally {
    if (engine.service) await stopProcesses([engine.service], 5000)
  }
}
