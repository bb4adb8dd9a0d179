#!/usr/bin/env node
// Runs the test suites with node's own test runner (tsx loads the TypeScript).
// `node scripts/test.mjs` runs everything; `node scripts/test.mjs unit` only the unit tests.
// Integration tests start their own RabbitMQ and Redis through `poc up` on offset ports,
// so a developer's stack on the default ports is never touched.
import {spawnSync} from 'node:child_process'
import {accessSync, constants, readdirSync} from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const suites = process.argv[2] ? [process.argv[2]] : ['unit', 'integration']
const files = suites.flatMap((suite) =>
  readdirSync(path.join(root, 'test', suite))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => path.join('test', suite, f)),
)

if (suites.includes('integration')) {
  const needed = {
    '/usr/lib/rabbitmq/bin/rabbitmq-server': 'rabbitmq-server',
    '/usr/bin/redis-server': 'redis-server',
  }
  const missing = Object.entries(needed).filter(([bin]) => {
    try {
      accessSync(bin, constants.X_OK)
      return false
    } catch {
      return true
    }
  })
  if (missing.length > 0) {
    console.error(
      `The integration tests run real servers: install ${missing.map(([, p]) => p).join(' ')} (npm run setup does).`,
    )
    process.exit(1)
  }
}

// Two files at a time, but only one integration file (scripts/test-serial.mjs holds a lock for it):
// a unit file or two is queued after each integration file, so the unit tests run in the second
// slot while the integration files run one after another.
const unit = files.filter((f) => f.startsWith(path.join('test', 'unit')))
const integration = files.filter((f) => !unit.includes(f))
const perGap = integration.length > 0 ? Math.ceil(unit.length / integration.length) : unit.length
const ordered =
  integration.length > 0
    ? integration.flatMap((f, i) => [f, ...unit.slice(i * perGap, (i + 1) * perGap)])
    : unit

const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--import',
    path.join(root, 'scripts', 'test-serial.mjs'),
    '--test',
    '--test-concurrency=2',
    '--test-reporter=spec',
    ...ordered,
  ],
  {cwd: root, stdio: 'inherit'},
)
process.exit(result.status ?? 1)
