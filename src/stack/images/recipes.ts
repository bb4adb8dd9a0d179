import {createHash} from 'node:crypto'
import {usageError} from '../errors.js'
import {servicesContentDigest} from './services-payload.js'
import {type LocalImageName, localImageNames} from '../catalog.js'
import {cephS3Script, cephS3ScriptPath, containerDataDir} from '../s3-server.js'

/**
 * Local images of poc's components, built from Debian packages where no registry answers
 * (SPEC §2.1). Each recipe is plain data; its hash names the image, so changing a recipe (or,
 * for our services, what goes into /app) gives a new tag and never reuses a stale image.
 */

/** The catalog names which components have a local image (ContainerRecipe.localImage). */
export const localImageComponents = localImageNames
export type LocalImageComponent = LocalImageName

/** The tags poc gives its local images: `localhost/poc/<component>:<hash>`. */
export const localImageRepoPrefix = 'localhost/poc/'

export interface ImageRecipe {
  component: LocalImageComponent
  /** The Debian release the base is debootstrapped from (variant minbase). */
  suite: string
  /** Installed with apt-get --no-install-recommends; none means the base as is. */
  packages: string[]
  entrypoint?: string[]
  cmd?: string[]
  env: Record<string, string>
  expose: number[]
  workdir?: string
  /** Created in the image (absolute paths), for volumes and state the process writes. */
  directories: string[]
  /** Removed after the install (absolute paths): what a package ships and this image never reads. */
  remove?: string[]
  /** Files written into the image (absolute path: content and mode), e.g. an entrypoint script; part of the hash. */
  files?: Record<string, {content: string; mode: number}>
  /** What goes into /app besides packages: our Node services and the host's Node binary. */
  payload?: 'node-services'
}

/**
 * Bumped when the way an image is built changes (the steps of build.ts, not a recipe), so
 * images built the old way get new tags too.
 */
export const buildProcedureVersion = 1

const path = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export const imageRecipes: Record<LocalImageComponent, ImageRecipe> = {
  rabbitmq: {
    component: 'rabbitmq',
    suite: 'bookworm',
    // The management plugin and rabbitmq_prometheus ship in the package itself.
    packages: ['rabbitmq-server'],
    // The real launcher: /usr/sbin/rabbitmq-server switches to the rabbitmq user through su.
    entrypoint: ['/usr/lib/rabbitmq/bin/rabbitmq-server'],
    env: {
      PATH: path,
      HOME: '/var/lib/rabbitmq',
      RABBITMQ_MNESIA_BASE: '/var/lib/rabbitmq/mnesia',
    },
    expose: [5672, 15672, 15692],
    directories: ['/var/lib/rabbitmq/mnesia', '/var/log/rabbitmq', '/etc/rabbitmq'],
  },
  redis: {
    component: 'redis',
    suite: 'bookworm',
    packages: ['redis-server'],
    cmd: ['redis-server', '--protected-mode', 'no'],
    env: {PATH: path},
    expose: [6379],
    workdir: '/data',
    directories: ['/data'],
  },
  // No MinIO in Debian: the same S3 server the native runtime runs, Ceph's monitor, OSD and
  // radosgw, started by poc's script (s3-server.ts) in one container.
  minio: {
    component: 'minio',
    suite: 'bookworm',
    packages: ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-common', 'curl'],
    entrypoint: [cephS3ScriptPath],
    cmd: ['server', containerDataDir],
    env: {PATH: path},
    expose: [9000],
    workdir: containerDataDir,
    directories: [containerDataDir],
    files: {[cephS3ScriptPath]: {content: cephS3Script, mode: 0o755}},
  },
  prometheus: {
    component: 'prometheus',
    suite: 'bookworm',
    packages: ['prometheus'],
    entrypoint: ['/usr/bin/prometheus'],
    cmd: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus'],
    env: {PATH: path},
    expose: [9090],
    workdir: '/prometheus',
    directories: ['/prometheus', '/etc/prometheus'],
    // 212 MB of raw time zone tables; the web UI loads moment-timezone-with-data.min.js instead.
    remove: ['/usr/share/javascript/moment-timezone/data'],
  },
  services: {
    component: 'services',
    suite: 'bookworm',
    packages: [],
    entrypoint: ['node', '/app/bin/service.js'],
    env: {PATH: path, NODE_ENV: 'production'},
    expose: [],
    workdir: '/app',
    directories: ['/app'],
    payload: 'node-services',
  },
}

export function isLocalImageComponent(name: string): name is LocalImageComponent {
  return (localImageComponents as readonly string[]).includes(name)
}

/** Component names as given on a command line, or a usage error (exit 2) that lists the valid ones. */
export function parseLocalImageComponents(names: string[]): LocalImageComponent[] {
  if (names.length === 0) return [...localImageComponents]
  const unknown = names.filter((n) => !isLocalImageComponent(n))
  if (unknown.length > 0) {
    throw usageError(`no local image recipe for ${unknown.join(', ')}`, [
      `Local images: ${localImageComponents.join(', ')}`,
    ])
  }
  return [...new Set(names)] as LocalImageComponent[]
}

/** JSON with object keys sorted, so a hash does not depend on the order a recipe was written in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export interface HashOptions {
  /** The recipe to hash; the component's own by default (tests pass altered ones). */
  recipe?: ImageRecipe
  /** Where our services' files are read from (the package root by default). */
  root?: string
}

/** The first 12 hex digits of sha256 over the build procedure, the recipe and (services) its payload. */
export function recipeHash(component: LocalImageComponent, options: HashOptions = {}): string {
  const recipe = options.recipe ?? imageRecipes[component]
  const hash = createHash('sha256')
  hash.update(canonicalJson({build: buildProcedureVersion, recipe}))
  if (recipe.payload === 'node-services') hash.update(servicesContentDigest(options.root))
  return hash.digest('hex').slice(0, 12)
}

export function localImageRepo(component: LocalImageComponent): string {
  return `${localImageRepoPrefix}${component}`
}

/** `localhost/poc/<component>:<recipe hash>`; for services this reads bin/, dist/, fixtures/ and the lockfile. */
export function localImageTag(component: LocalImageComponent, options: HashOptions = {}): string {
  return `${localImageRepo(component)}:${recipeHash(component, options)}`
}

/** The component and hash of a `localhost/poc/<component>:<hash>` tag, or undefined for any other tag. */
export function parseLocalImageTag(tag: string): {component: LocalImageComponent; hash: string} | undefined {
  const match = /^localhost\/poc\/([a-z0-9-]+):([0-9a-f]{12})$/.exec(tag)
  if (!match || !isLocalImageComponent(match[1] as string)) return undefined
  return {component: match[1] as LocalImageComponent, hash: match[2] as string}
}

/**
 * The Dockerfile-like instructions the Engine API applies to an imported rootfs
 * (`POST /images/create?fromSrc=-&changes=…`, one instruction per value; docker and podman both
 * take ENTRYPOINT, CMD, ENV, EXPOSE, WORKDIR and LABEL there).
 */
export function imageChanges(recipe: ImageRecipe, hash: string): string[] {
  const changes: string[] = []
  for (const [name, value] of Object.entries(recipe.env)) changes.push(`ENV ${name}=${value}`)
  for (const port of recipe.expose) changes.push(`EXPOSE ${port}/tcp`)
  if (recipe.workdir) changes.push(`WORKDIR ${recipe.workdir}`)
  if (recipe.entrypoint) changes.push(`ENTRYPOINT ${JSON.stringify(recipe.entrypoint)}`)
  if (recipe.cmd) changes.push(`CMD ${JSON.stringify(recipe.cmd)}`)
  changes.push(`LABEL poc.component=${recipe.component}`, `LABEL poc.recipe=${hash}`)
  return changes
}
