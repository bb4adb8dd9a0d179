#!/usr/bin/env node
// npm run setup: install the npm dependencies, build, and install the Debian packages the
// native runtime needs when they are missing. The package list comes from the built
// component catalog, so it never drifts from what `poc up` looks for; the harness's own
// tools, which are not stack components, are listed here.
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')

function run(command, args, options = {}) {
  console.log(`$ ${[command, ...args].join(' ')}`)
  const result = spawnSync(command, args, {cwd: root, stdio: 'inherit', ...options})
  if (result.status !== 0) {
    console.error(`setup: ${command} ${args[0] ?? ''} failed (exit ${result.status ?? result.signal})`)
    process.exit(1)
  }
}

run('npm', ['ci', '--no-audit', '--no-fund'])
run('npm', ['run', 'build', '--silent'])

const {catalog} = await import(path.join(root, 'dist/stack/catalog.js'))
const {findBinary} = await import(path.join(root, 'dist/stack/native.js'))
const requirements = catalog.flatMap((spec) => spec.native?.binaries ?? [])
const missing = [...new Set(requirements.filter((r) => !findBinary(r)).map((r) => r.debianPackage))]

// Tools of the harness, not of the stack, so the catalog does not list them. Chromium is the
// browser test/integration/bench-report-browser.test.ts opens the bench HTML report in; that
// test looks at this path only.
// podman (with runc, which poc's containers.conf names) is the container runtime `poc up` picks
// when no docker engine answers; debootstrap builds poc's local images where no registry is
// reachable (poc images build).
const harnessTools = [
  {name: 'chromium', candidates: ['/usr/bin/chromium'], debianPackage: 'chromium', searchPath: false},
  {name: 'podman', candidates: [], debianPackage: 'podman', searchPath: true},
  {name: 'runc', candidates: [], debianPackage: 'runc', searchPath: true},
  {
    name: 'debootstrap',
    candidates: ['/usr/sbin/debootstrap'],
    debianPackage: 'debootstrap',
    searchPath: true,
  },
  // Lints every service's /metrics in npm test (promtool check metrics) and the alert rules.
  {name: 'promtool', candidates: ['/usr/bin/promtool'], debianPackage: 'prometheus', searchPath: true},
  // A Japanese font, so the UI's labels (the seed's, in Japanese) are legible in the browser
  // tests' screenshots; Chromium draws boxes without one.
  {
    name: 'fonts-ipafont-gothic',
    candidates: [],
    file: '/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf',
    debianPackage: 'fonts-ipafont-gothic',
    searchPath: false,
  },
  // The load generator npm run bench:gateway and bench:generator measure the server with.
  {name: 'wrk', candidates: ['/usr/bin/wrk'], debianPackage: 'wrk', searchPath: true},
  // Reads compose/compose.yaml in a test, as a user running the stack by hand would.
  {
    name: 'podman-compose',
    candidates: ['/usr/bin/podman-compose'],
    debianPackage: 'podman-compose',
    searchPath: true,
  },
]
const missingTools = [
  ...new Set(
    harnessTools
      .filter((t) => (t.file ? !existsSync(t.file) : !findBinary(t)))
      .map((t) => t.debianPackage)
      .filter((p) => !missing.includes(p)),
  ),
]

if (missing.length === 0) {
  console.log(
    'setup: the native runtime has everything it needs (rabbitmq-server, redis-server, prometheus; for --with minio: ceph-mon, ceph-osd, radosgw, ceph-common).',
  )
}
if (missingTools.length === 0)
  console.log(
    'setup: the harness has its tools (chromium, a Japanese font, podman, runc, debootstrap, promtool, podman-compose, wrk).',
  )
if (missing.length + missingTools.length > 0) installDebianPackages(missing, missingTools)
console.log('setup: done. Next: npx poc up')

function installDebianPackages(components, tools) {
  const packages = [...components, ...tools]
  const command = `apt-get install -y ${packages.join(' ')}`
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : ''
  if (!/^ID(_LIKE)?=.*\b(debian|ubuntu)\b/m.test(osRelease)) {
    console.log(`setup: not on Debian or Ubuntu, so these are not installed: ${packages.join(', ')}.`)
    console.log(
      'setup: install RabbitMQ, Redis, Prometheus and Chromium with your package manager (poc doctor tells what is missing).',
    )
    return
  }
  // Root runs apt-get itself; a user with passwordless sudo (a GitHub-hosted runner) through sudo.
  const isRoot = process.getuid?.() === 0
  if (!isRoot && spawnSync('sudo', ['-n', 'true'], {stdio: 'ignore'}).status !== 0) {
    console.log(`setup: not root, so the missing packages are not installed. Run:\n  sudo ${command}`)
    return
  }
  const asRoot = (command, args, options) =>
    isRoot
      ? run(command, args, options)
      : run('sudo', ['-n', '--preserve-env=DEBIAN_FRONTEND', command, ...args], options)
  // poc runs its own instances on its own ports: keep the packages' system-wide services from
  // starting (policy-rc.d, as Debian's container images do), so they never hold 5672 or 6379.
  const policy = '/usr/sbin/policy-rc.d'
  const ownPolicy = !existsSync(policy)
  if (ownPolicy) asRoot('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`])
  try {
    const env = {...process.env, DEBIAN_FRONTEND: 'noninteractive'}
    asRoot('apt-get', ['update', '-qq'], {env})
    // A harness tool apt cannot provide (some Ubuntu releases ship Chromium only as a snap) must
    // not keep the runtime's packages from being installed: the test that needs it says why it skips.
    const unavailable = tools.filter(
      (p) => spawnSync('apt-cache', ['show', p], {stdio: 'ignore'}).status !== 0,
    )
    for (const p of unavailable) console.log(`setup: apt has no ${p} package here; install it by hand.`)
    const installable = [...components, ...tools.filter((p) => !unavailable.includes(p))]
    if (installable.length > 0) {
      console.log(`setup: installing ${installable.join(', ')}`)
      asRoot('apt-get', ['install', '-y', '-qq', ...installable], {env})
    }
  } finally {
    if (ownPolicy) asRoot('rm', ['-f', policy])
  }
  const units = {
    'rabbitmq-server': 'rabbitmq-server',
    'redis-server': 'redis-server',
    prometheus: 'prometheus',
  }
  const installedUnits = components.map((p) => units[p]).filter(Boolean)
  if (installedUnits.length > 0 && existsSync('/run/systemd/system')) {
    console.log(`setup: disabling the system-wide services poc does not use: ${installedUnits.join(', ')}`)
    spawnSync(
      isRoot ? 'systemctl' : 'sudo',
      [...(isRoot ? [] : ['-n', 'systemctl']), 'disable', '--now', ...installedUnits],
      {
        stdio: 'inherit',
      },
    )
  }
}
