import {createHash} from 'node:crypto'
import {existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import path from 'node:path'
import {packageRoot} from '../../lib/package-root.js'
import {ExitCode, PocError} from '../errors.js'
import {run} from './host-command.js'

/**
 * What the services image carries in /app: the repo's entry point, compiled code, fixtures and
 * manifest files, and its production dependencies. node_modules is not hashed: the lockfile
 * decides it, and the lockfile is.
 */
export const servicesPayloadEntries = ['bin', 'dist', 'fixtures', 'package.json', 'package-lock.json']

/** The file that proves `npm run build` ran: the bundle every service starts through (bin/service.js). */
const builtMarker = path.join('dist', 'services-bundle', 'run-service.js')

export function requireBuiltDist(root: string): void {
  if (existsSync(path.join(root, builtMarker))) return
  throw new PocError(`the services image is built from dist/, and ${root} has no built dist/`, {
    exitCode: ExitCode.unavailable,
    code: 'dist_missing',
    suggestions: [`Build it first: npm run build (in ${root})`],
  })
}

/**
 * sha256 over the payload's paths, kinds and bytes (never mtimes, so a fresh checkout hashes the
 * same), and the Node version copied in beside them.
 */
export function servicesContentDigest(root = packageRoot): string {
  requireBuiltDist(root)
  const hash = createHash('sha256')
  hash.update(`node ${process.version} ${process.arch}\0`)
  const visit = (relative: string): void => {
    const absolute = path.join(root, relative)
    const stat = lstatSync(absolute)
    if (stat.isSymbolicLink()) {
      hash.update(`link ${relative}\0${readlinkSync(absolute)}\0`)
    } else if (stat.isDirectory()) {
      hash.update(`dir ${relative}\0`)
      for (const name of readdirSync(absolute).sort()) visit(path.join(relative, name))
    } else if (stat.isFile()) {
      const content = readFileSync(absolute)
      hash.update(`file ${relative} ${stat.mode & 0o111 ? 'x' : '-'} ${content.length}\0`)
      hash.update(content)
    }
  }
  for (const entry of servicesPayloadEntries) {
    if (existsSync(path.join(root, entry))) visit(entry)
    else hash.update(`absent ${entry}\0`)
  }
  return hash.digest('hex')
}

/**
 * Fill a rootfs with Node (the host's own binary: the same version our tests run) and /app.
 * Production dependencies come from a copy of the repo's node_modules pruned offline, so an
 * air-gapped machine that could `npm ci` once can build the image.
 */
export async function stageServicesPayload(
  rootfs: string,
  options: {root?: string; signal?: AbortSignal; progress?: (line: string) => void} = {},
): Promise<void> {
  const root = options.root ?? packageRoot
  requireBuiltDist(root)
  const modules = path.join(root, 'node_modules')
  if (!existsSync(modules)) {
    throw new PocError(`the services image needs ${root}/node_modules to take its dependencies from`, {
      exitCode: ExitCode.unavailable,
      code: 'node_modules_missing',
      suggestions: [`Install them first: npm ci (in ${root})`],
    })
  }
  const app = path.join(rootfs, 'app')
  await mkdir(path.join(rootfs, 'usr', 'local', 'bin'), {recursive: true})
  await mkdir(app, {recursive: true})
  options.progress?.(`copying node ${process.version} and ${servicesPayloadEntries.join(', ')} to /app`)
  await run('cp', [process.execPath, path.join(rootfs, 'usr', 'local', 'bin', 'node')], options)
  const present = servicesPayloadEntries.filter((e) => existsSync(path.join(root, e)))
  await run('cp', ['-a', ...present.map((e) => path.join(root, e)), `${app}/`], options)
  // node_modules may be a symlink (a git worktree sharing another's): copy what it points at.
  await run('cp', ['-a', `${realpathSync(modules)}/.`, path.join(app, 'node_modules')], options)
  options.progress?.('npm prune --omit=dev (offline)')
  await run(
    npmBinary(),
    ['prune', '--omit=dev', '--ignore-scripts', '--offline', '--no-audit', '--no-fund', '--loglevel=error'],
    {...options, cwd: app},
  )
}

/** npm beside the running node (how Node ships it), else the one on PATH. */
function npmBinary(): string {
  const beside = path.join(path.dirname(process.execPath), 'npm')
  return existsSync(beside) ? beside : 'npm'
}
