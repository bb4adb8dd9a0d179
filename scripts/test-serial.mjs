// Loaded (node --import) into every test file's process by scripts/test.mjs. An integration test
// file brings up whole stacks and measures deadlines on a 2-core machine, so only one runs at a
// time: it holds a lock before its first line runs. Unit files take no lock and fill the test
// runner's second slot meanwhile. The lock is a listening socket in Linux's abstract namespace,
// so the kernel releases it whenever its process ends, kill -9 included, and nothing is left on
// disk; it is named after this checkout, so another checkout's tests do not wait for these.
import {createHash} from 'node:crypto'
import net from 'node:net'
import path from 'node:path'

const file = process.argv[1] ?? ''
const root = path.resolve(import.meta.dirname, '..')
if (process.platform === 'linux' && file.startsWith(path.join(root, 'test', 'integration') + path.sep)) {
  const name = `\0poc-integration-tests-${createHash('sha256').update(root).digest('hex').slice(0, 16)}`
  await new Promise((resolve) => {
    const server = net.createServer()
    const attempt = () => server.listen(name)
    server.once('listening', () => resolve(server.unref()))
    server.on('error', (error) => {
      if (error.code === 'EADDRINUSE') setTimeout(attempt, 200)
      // Anything else: run unlocked rather than not at all.
      else resolve(undefined)
    })
    attempt()
  })
}
