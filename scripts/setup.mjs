#!/usr/bin/env node
// npm run setup: install the npm dependencies, build, and install the Debian packages the
// native runtime needs when they are missing. The package list comes from the built
// component catalog, so it never drifts from what `poc up` looks for.
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

if (missing.length === 0) {
  console.log(
    'setup: the native runtime has everything it needs (rabbitmq-server, redis-server, prometheus).',
  )
} else {
  installDebianPackages(missing)
}
console.log('setup: done. Next: npx poc up')

function installDebianPackages(packages) {
  const command = `apt-get install -y ${packages.join(' ')}`
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : ''
  if (!/^ID(_LIKE)?=.*\b(debian|ubuntu)\b/m.test(osRelease)) {
    console.log(`setup: not on Debian or Ubuntu, so these are not installed: ${packages.join(', ')}.`)
    console.log(
      'setup: install RabbitMQ, Redis and Prometheus with your package manager (poc doctor tells what is missing).',
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
  console.log(`setup: installing ${packages.join(', ')} for the native runtime`)
  // poc runs its own instances on its own ports: keep the packages' system-wide services from
  // starting (policy-rc.d, as Debian's container images do), so they never hold 5672 or 6379.
  const policy = '/usr/sbin/policy-rc.d'
  const ownPolicy = !existsSync(policy)
  if (ownPolicy) asRoot('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`])
  try {
    const env = {...process.env, DEBIAN_FRONTEND: 'noninteractive'}
    asRoot('apt-get', ['update', '-qq'], {env})
    asRoot('apt-get', ['install', '-y', '-qq', ...packages], {env})
  } finally {
    if (ownPolicy) asRoot('rm', ['-f', policy])
  }
  const units = {
    'rabbitmq-server': 'rabbitmq-server',
    'redis-server': 'redis-server',
    prometheus: 'prometheus',
  }
  const installedUnits = packages.map((p) => units[p]).filter(Boolean)
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
