import path from 'node:path'
import {fileURLToPath} from 'node:url'
import react from '@vitejs/plugin-react'
import {defineConfig} from 'vite'

const appDir = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(appDir, '../../../..')
/** What the ui server serves (src/services/ui/config.ts builtAppDir). */
const outDir = path.join(repoRoot, 'dist', 'ui')
/** `npm run ui:dev` proxies the API to a running pm (`poc up`), as the ui server does. */
const pmUrl = process.env.PM_URL ?? 'http://127.0.0.1:3001'
const proxied = [
  '/api',
  '/graphql',
  '/metrics/summary',
  '/metrics/stream',
  '/events/recent',
  '/health/telemetry',
]

export default defineConfig({
  root: appDir,
  plugins: [react()],
  // Everything is served by the ui server: no CDN, no fonts from the network.
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: Object.fromEntries(proxied.map((prefix) => [prefix, {target: pmUrl, changeOrigin: false}])),
  },
})
