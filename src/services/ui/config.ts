import path from 'node:path'
import {z} from 'zod'
import {packageRoot} from '../../lib/package-root.js'

/** Where the built single-page app is: `npm run build` writes it there (vite, src/services/ui/app). */
export const builtAppDir = path.join(packageRoot, 'dist', 'ui')

/** The ui's environment: where it listens, where pm is, and where the built app is. It keeps no state. */
export const uiConfig = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(1).max(65_535),
  /** pm's base URL; every proxied route goes there. */
  PM_URL: z.string().url().default('http://127.0.0.1:3001'),
  UI_APP_DIR: z.string().default(builtAppDir),
  /** How long a proxied request may wait for pm's answer (streams excepted) before a 504. */
  UI_PROXY_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
})
export type UiConfig = z.infer<typeof uiConfig>
