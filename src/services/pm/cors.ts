import cors, {type FastifyCorsOptions} from '@fastify/cors'
import type {HttpServer} from '../shared/http.js'

/** `*`, or the origins (exact strings, or patterns) a browser page may call pm from. */
export type CorsOrigins = '*' | Array<string | RegExp>

/** Without CORS_ORIGIN: pages served from this machine only, on any port (the UI's 4000, a dev server). */
export const localOrigins: CorsOrigins = [
  /^http:\/\/localhost(:\d{1,5})?$/,
  /^http:\/\/127\.0\.0\.1(:\d{1,5})?$/,
  /^http:\/\/\[::1\](:\d{1,5})?$/,
]

/**
 * CORS_ORIGIN: a comma-separated list of origins (`http://host:port`, as a browser sends them), or
 * `*` for any; unset or empty, the local origins. Throws, naming the entry, on one that is no origin.
 */
export function parseCorsOrigins(value: string | undefined): CorsOrigins {
  const entries = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
  if (entries.length === 0) return localOrigins
  if (entries.includes('*')) return '*'
  return entries.map((entry) => {
    let origin: string | undefined
    try {
      origin = new URL(entry).origin
    } catch {
      origin = undefined
    }
    if (origin !== entry.replace(/\/$/, '') || origin === 'null') {
      throw new Error(
        `CORS_ORIGIN entry "${entry}" is not an origin; give scheme, host and port only, e.g. http://localhost:4000`,
      )
    }
    return origin
  })
}

/** /admin/… as routed: fastify decodes the path, so `/%61dmin/reset` is the reset route too. */
function isAdminPath(url: string): boolean {
  const path = url.split('?')[0] ?? ''
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return true
  }
  return /^\/*admin(\/|$)/i.test(decoded)
}

/**
 * pm answers browser pages from the allowed origins (the seed's UI calls it straight from
 * http://localhost:3000 or :4000), preflights (OPTIONS) with 204, and never admin routes: there
 * a preflight is 404 and no answer carries an Access-Control header.
 */
export function registerCors(app: HttpServer, origins: CorsOrigins): void {
  const options: FastifyCorsOptions = {
    origin: origins === '*' ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'],
    // What the seed's UI sends (X-User-Id), and Last-Event-ID on an EventSource's reconnect.
    allowedHeaders: ['Content-Type', 'Idempotency-Key', 'X-User-Id', 'Last-Event-ID'],
    exposedHeaders: ['Retry-After'],
    maxAge: 600,
    // A bare OPTIONS (no Origin) gets the 204 too, instead of the plugin's text/plain 400.
    strictPreflight: false,
  }
  void app.register(cors, {
    delegator: (request, callback) => callback(null, isAdminPath(request.url) ? {origin: false} : options),
  })
}
