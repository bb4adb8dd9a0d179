import {mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {stringify} from 'yaml'
import {packageRoot} from '../lib/package-root.js'
import {
  type ComponentContext,
  type ComponentName,
  type ComponentSpec,
  type ContainerRecipe,
  catalog,
  serviceEnvironment,
} from './catalog.js'
import {type PlacementOf, componentContext} from './context.js'
import {type PocHome, homeAt} from './home.js'

/**
 * compose/compose.yaml, generated from the catalog (`npm run compose`): every component with a
 * container recipe as a compose service on the project's one network, as `poc up
 * --services-in-containers` runs them. Inside that network each component listens on its catalog
 * port on every interface and reaches the others by alias, so the catalog's own recipes, with
 * the network-container placement, give the commands, environment and config files.
 */

/** Where compose/ lives, and what its paths are relative to. */
export const composeDir = path.join(packageRoot, 'compose')

/** POC_HOME inside our services' containers, on the `poc-home` volume. */
export const composeHome: PocHome = homeAt('/var/lib/poc')

const homeVolume = 'poc-home'

/** The image our services run from in compose, built from compose/Dockerfile. */
const servicesBuild = {context: '..', dockerfile: 'compose/Dockerfile'} as const

const everyComponentOnTheNetwork: PlacementOf = () => 'network-container'

export interface ComposeHealthcheck {
  test: string[]
  interval: string
  timeout: string
  retries: number
  start_period: string
}

export interface ComposeService {
  image: string
  build?: {context: string; dockerfile: string}
  profiles?: string[]
  hostname?: string
  entrypoint?: string[]
  command?: string[]
  /** A null value passes the variable through from the shell running compose, when set there. */
  environment?: Record<string, string | null>
  ports?: string[]
  /** Short syntax, or the long one for a part of $POC_HOME (compose's `volume.subpath`, compose 2.23+). */
  volumes?: Array<string | ComposeVolumeMount>
  depends_on?: Record<string, {condition: 'service_healthy'}>
  healthcheck: ComposeHealthcheck
  stop_grace_period: string
}

export interface ComposeVolumeMount {
  type: 'volume'
  source: string
  target: string
  read_only?: boolean
  volume: {subpath: string}
}

export interface ComposeDocument {
  name: string
  services: Record<string, ComposeService>
  volumes: Record<string, Record<string, never>>
}

/** A host path the catalog binds that the recipe's `prepare` writes: copied under compose/ and mounted from there. */
export interface GeneratedMount {
  component: ComponentName
  /** Where `prepare` writes it, relative to the component's data directory. */
  dataPath: string
  /** Where it lives in compose/, relative to compose/. */
  composePath: string
}

export interface ComposeProject {
  document: ComposeDocument
  generated: GeneratedMount[]
}

/**
 * Commands that run inside each image, with what that image has: compose waits on them
 * (`depends_on: service_healthy`), where poc waits from outside with the catalog's readiness.
 * The paths and ports are the catalog's readiness endpoints.
 */
const infrastructureHealthchecks: Partial<Record<ComponentName, (ctx: ComponentContext) => string[]>> = {
  rabbitmq: () => ['CMD', 'rabbitmq-diagnostics', '-q', 'ping'],
  redis: (ctx) => ['CMD', 'redis-cli', '-p', String(ctx.bind.ports.redis), 'ping'],
  // The image has had no curl since 2023-11 (minio/minio#18373); bash's /dev/tcp does the GET.
  minio: (ctx) => bashHttpGet(ctx.bind.ports.api as number, '/minio/health/ready'),
  // A busybox image: its wget.
  prometheus: (ctx) => ['CMD', 'wget', '-qO-', `http://127.0.0.1:${ctx.bind.ports.http}/-/ready`],
  grafana: (ctx) => [
    'CMD',
    'curl',
    '-fsS',
    '-o',
    '/dev/null',
    `http://127.0.0.1:${ctx.bind.ports.http}/api/health`,
  ],
  // Distroless: no shell at all, so Loki checks its own /ready (grafana/loki#20313).
  loki: () => ['CMD', '/usr/bin/loki', '-health'],
  // Ubuntu without curl or wget; 9080 is the HTTP port of the image's own config.
  promtail: () => bashHttpGet(9080, '/ready'),
}

/** GET with bash builtins only, healthy on a 200 status line. `$$` is compose's escape for `$`. */
function bashHttpGet(port: number, route: string): string[] {
  return [
    'CMD',
    'bash',
    '-c',
    `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${route} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ "$$code" = 200 ]`,
  ]
}

function serviceHealthcheck(ctx: ComponentContext): string[] {
  const url = `http://127.0.0.1:${ctx.bind.ports.http}/health`
  return ['CMD', 'node', '-e', `fetch('${url}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`]
}

const healthInterval = '5s'

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)}s`
}

function healthcheck(spec: ComponentSpec, ctx: ComponentContext): ComposeHealthcheck {
  const test =
    spec.kind === 'service' ? serviceHealthcheck(ctx) : infrastructureHealthchecks[spec.name]?.(ctx)
  if (!test) {
    throw new Error(
      `compose: ${spec.name} has no healthcheck; add one to infrastructureHealthchecks in src/stack/compose.ts`,
    )
  }
  // The catalog's start timeout is how long the component may take to become ready, as under poc up.
  return {
    test,
    interval: healthInterval,
    timeout: healthInterval,
    retries: 3,
    start_period: seconds(spec.startTimeoutMs),
  }
}

function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child)
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative)
}

/**
 * Environment of our services in compose: the catalog's, then what poc passes through from its
 * caller, left for compose to pass through from its own. A secret the catalog hands over as a
 * file in $POC_HOME (`X_FILE`, where X is passed through) is required from the caller instead:
 * a compose project has no poc to create it, and none is committed.
 */
function serviceComposeEnvironment(
  spec: ComponentSpec,
  ctx: ComponentContext,
): Record<string, string | null> {
  const own = serviceEnvironment(spec, ctx, {})
  const passed = spec.passEnv ?? []
  const required = new Set(passed.filter((name) => `${name}_FILE` in own))
  const environment: Record<string, string | null> = {}
  for (const [name, value] of Object.entries(own)) {
    const secret = name.endsWith('_FILE') ? name.slice(0, -'_FILE'.length) : undefined
    if (secret !== undefined && required.has(secret)) continue
    environment[name] = value
  }
  for (const name of required) {
    environment[name] = `\${${name}:?set ${name} (see compose/README.md)}`
  }
  // What poc sets itself wins over the caller's, as in serviceEnvironment.
  for (const name of passed) {
    if (!required.has(name) && !(name in own)) environment[name] = null
  }
  return environment
}

function composeService(
  spec: ComponentSpec,
  recipe: ContainerRecipe,
  volumes: Set<string>,
  generated: GeneratedMount[],
): ComposeService {
  const ctx = componentContext(spec.name, composeHome, 0, everyComponentOnTheNetwork)
  const mounts: Array<string | ComposeVolumeMount> = []
  const catalogBinds = recipe.binds?.(ctx) ?? []
  const binds = [...catalogBinds]
  for (const bind of binds) {
    const mode = bind.readOnly ? ':ro' : ''
    if (bind.source === ctx.home.root) {
      volumes.add(homeVolume)
      mounts.push(`${homeVolume}:${bind.target}${mode}`)
    } else if (isInside(ctx.home.root, bind.source) && !isInside(ctx.dataDir, bind.source)) {
      // Promtail reads $POC_HOME/logs: that directory of the volume every service writes to.
      volumes.add(homeVolume)
      mounts.push({
        type: 'volume',
        source: homeVolume,
        target: bind.target,
        ...(bind.readOnly ? {read_only: true} : {}),
        volume: {subpath: path.relative(ctx.home.root, bind.source).split(path.sep).join('/')},
      })
    } else if (isInside(ctx.dataDir, bind.source)) {
      const dataPath = path.relative(ctx.dataDir, bind.source)
      const composePath = path.posix.join(spec.name, ...dataPath.split(path.sep))
      generated.push({component: spec.name, dataPath, composePath})
      mounts.push(`./${composePath}:${bind.target}${mode}`)
    } else if (isInside(packageRoot, bind.source)) {
      const relative = path.relative(packageRoot, bind.source).split(path.sep)
      mounts.push(`${path.posix.join('..', ...relative)}:${bind.target}${mode}`)
    } else {
      throw new Error(
        `compose: ${spec.name} binds ${bind.source}, which is neither $POC_HOME, its data directory nor in this repository; teach src/stack/compose.ts where it goes`,
      )
    }
  }
  for (const data of recipe.data ?? []) {
    const volume = `${spec.name}-${data.dir.replaceAll('/', '-')}`
    volumes.add(volume)
    mounts.push(`${volume}:${data.target}`)
  }

  const environment =
    spec.kind === 'service' ? serviceComposeEnvironment(spec, ctx) : (recipe.env?.(ctx) ?? {})
  const ports = spec.ports
    .filter((p) => !p.internal)
    .map((p) => `127.0.0.1:${p.port}:${ctx.bind.ports[p.name]}`)
  const command = recipe.cmd?.(ctx)
  return {
    image: recipe.image,
    ...(spec.kind === 'service' ? {build: {...servicesBuild}} : {}),
    ...(spec.group === 'core' ? {} : {profiles: [spec.group]}),
    ...(recipe.hostname ? {hostname: recipe.hostname} : {}),
    ...(recipe.entrypoint ? {entrypoint: recipe.entrypoint} : {}),
    ...(command ? {command} : {}),
    ...(Object.keys(environment).length > 0 ? {environment} : {}),
    ...(ports.length > 0 ? {ports} : {}),
    ...(mounts.length > 0 ? {volumes: mounts} : {}),
    ...(spec.dependsOn.length > 0
      ? {
          depends_on: Object.fromEntries(
            spec.dependsOn.map((d) => [d, {condition: 'service_healthy' as const}]),
          ),
        }
      : {}),
    healthcheck: healthcheck(spec, ctx),
    stop_grace_period: seconds(spec.stopGraceMs),
  }
}

/** The compose document for the catalog, and the generated files it mounts. Pure: no file is read or written. */
export function composeProject(components: readonly ComponentSpec[] = catalog): ComposeProject {
  const services: Record<string, ComposeService> = {}
  const volumes = new Set<string>()
  const generated: GeneratedMount[] = []
  for (const spec of components) {
    if (!spec.container) continue
    services[spec.name] = composeService(spec, spec.container, volumes, generated)
  }
  return {
    document: {
      name: 'poc',
      services,
      volumes: Object.fromEntries([...volumes].sort().map((v) => [v, {}])),
    },
    generated,
  }
}

const header = [
  ' Generated by `npm run compose` from the component catalog (src/stack/catalog.ts): do not edit.',
  ' Usage: compose/README.md. test/unit/compose.test.ts fails when this file and the catalog disagree.',
].join('\n')

export function renderCompose(document: ComposeDocument): string {
  const body = stringify(document, {
    aliasDuplicateObjects: false,
    // YAML 1.1 quoting: PyYAML (podman-compose) would read a plain no or yes as a boolean.
    version: '1.1',
    nullStr: '',
    lineWidth: 0,
    singleQuote: true,
  })
  return `${header
    .split('\n')
    .map((line) => `#${line}`)
    .join('\n')}\n${body}`
}

/**
 * Every file compose/ holds that the generator writes, by path relative to compose/: compose.yaml
 * and the config files the catalog's own `prepare` writes, run for that purpose in a scratch home
 * (so they are byte for byte the files poc mounts).
 */
export async function generateComposeFiles(
  components: readonly ComponentSpec[] = catalog,
): Promise<Map<string, string>> {
  const {document, generated} = composeProject(components)
  const files = new Map<string, string>([['compose.yaml', renderCompose(document)]])
  const scratch = await mkdtemp(path.join(tmpdir(), 'poc-compose-'))
  try {
    const home = homeAt(scratch)
    const prepared = new Set<ComponentName>()
    for (const mount of generated) {
      const spec = components.find((c) => c.name === mount.component) as ComponentSpec
      if (!prepared.has(spec.name)) {
        prepared.add(spec.name)
        await spec.container?.prepare?.(componentContext(spec.name, home, 0, everyComponentOnTheNetwork))
      }
      const source = path.join(home.dataDirOf(spec.name), mount.dataPath)
      for (const [relative, content] of await readTree(source)) {
        if (content.includes(scratch)) {
          throw new Error(
            `compose: ${spec.name}'s ${mount.dataPath} names the home it was prepared in, so compose/ cannot hold it as is`,
          )
        }
        files.set(path.posix.join(mount.composePath, ...relative), content)
      }
    }
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
  return files
}

/** A file as [[[], content]], a directory as its files by relative path segments. */
async function readTree(source: string): Promise<Array<[string[], string]>> {
  if (!(await stat(source)).isDirectory()) return [[[], await readFile(source, 'utf8')]]
  const entries: Array<[string[], string]> = []
  for (const name of (await readdir(source)).sort()) {
    for (const [relative, content] of await readTree(path.join(source, name))) {
      entries.push([[name, ...relative], content])
    }
  }
  return entries
}

/** What compose/ holds beside the generated files: written by hand. */
export const handWrittenComposeFiles = ['Dockerfile', 'README.md']

/** Every file under `dir`, by path relative to it with `/` separators. */
export async function listComposeDir(dir: string = composeDir): Promise<string[]> {
  return (await readTree(dir)).map(([relative]) => relative.join('/'))
}

/**
 * Write the generated files under `dir` (compose/ by default) and delete what an earlier
 * generation left there that this one no longer writes. Returns the paths written and removed.
 */
export async function writeComposeFiles(
  files: Map<string, string>,
  dir: string = composeDir,
): Promise<{written: string[]; removed: string[]}> {
  const written: string[] = []
  for (const [relative, content] of files) {
    const target = path.join(dir, ...relative.split('/'))
    await mkdir(path.dirname(target), {recursive: true})
    await writeFile(target, content)
    written.push(relative)
  }
  const removed: string[] = []
  for (const relative of await listComposeDir(dir)) {
    if (files.has(relative) || handWrittenComposeFiles.includes(relative)) continue
    await rm(path.join(dir, ...relative.split('/')))
    removed.push(relative)
  }
  return {written, removed}
}
