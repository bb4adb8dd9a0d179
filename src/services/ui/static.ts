import {existsSync, statSync} from 'node:fs'
import path from 'node:path'
import fastifyStatic from '@fastify/static'
import type {HttpServer} from '../shared/http.js'

/** Paths that are never a page of the app: they are pm's (proxied) or the ui's own, so a miss is a JSON 404. */
const reservedPrefixes = ['/api', '/admin', '/graphql', '/metrics', '/events', '/health', '/assets']

export class AppNotBuiltError extends Error {}

/**
 * Serves the built single-page app from `appDir`: its files as they are (hashed assets cached
 * for a year, index.html revalidated), and index.html for every other GET that is a page of the
 * app (a deep link such as /projects?status=active), so the router in the browser takes over.
 */
export async function registerApp(app: HttpServer, appDir: string): Promise<void> {
  const indexFile = path.join(appDir, 'index.html')
  if (!existsSync(indexFile)) {
    throw new AppNotBuiltError(
      `the web app is not built: ${indexFile} is missing; run npm run build (it builds src/services/ui/app into dist/ui)`,
    )
  }
  await app.register(fastifyStatic, {
    root: appDir,
    prefix: '/',
    // One route per built file, found once at start: the build is immutable while the ui runs,
    // and the wildcard is left to the fallback below.
    wildcard: false,
    // The build writes .br and .gz beside each text file (scripts/compress-ui.mjs).
    preCompressed: true,
    setHeaders: (reply, file) => {
      const hashed = path.relative(appDir, file).startsWith(`assets${path.sep}`)
      void reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache')
    },
  })
  app.get('/*', async (request, reply) => {
    const pathname = request.url.split('?')[0] ?? '/'
    if (isPage(pathname)) return reply.header('cache-control', 'no-cache').sendFile('index.html')
    // A file the build wrote after the ui started (npm run build while the stack runs).
    const file = builtFile(appDir, pathname)
    if (file) return reply.sendFile(file)
    return reply.code(404).send({error: 'not_found', message: `no route for ${request.method} ${pathname}`})
  })
}

/** The path of `pathname` inside the built app when it is a file there, never outside it. */
function builtFile(appDir: string, pathname: string): string | undefined {
  let relative: string
  try {
    relative = path.normalize(decodeURIComponent(pathname)).replace(/^[/\\]+/, '')
  } catch {
    return undefined
  }
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined
  const absolute = path.join(appDir, relative)
  try {
    return statSync(absolute).isFile() ? relative : undefined
  } catch {
    return undefined
  }
}

/** A deep link of the app: not under a reserved prefix, and no file name with an extension (a missing asset). */
export function isPage(pathname: string): boolean {
  if (reservedPrefixes.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`)))
    return false
  const last = pathname.split('/').pop() ?? ''
  return !/\.[A-Za-z0-9]+$/.test(last)
}
