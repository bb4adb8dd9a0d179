import {existsSync} from 'node:fs'
import {statfs} from 'node:fs/promises'
import path from 'node:path'
import {execa} from 'execa'
import {type BinaryRequirement, catalog, getComponent, resolvePorts} from '../stack/catalog.js'
import {describeAddress, findRunningEngine, podmanBinary} from '../stack/engine/connect.js'
import {podmanHintsFor} from '../stack/engine/containers-conf.js'
import type {PocHome} from '../stack/home.js'
import {findBinary} from '../stack/native.js'
import {checkPortFree, describeHolder} from '../stack/ports.js'
import {chromiumMissingReason, findChromium} from './ui/browser.js'
import {readState} from '../stack/state.js'

/**
 * `poc doctor`: what this machine has and lacks for poc, each with the way to get it.
 * `fail` blocks `poc up` with the default set; `warn` limits something optional.
 */
export type DoctorStatus = 'ok' | 'warn' | 'fail'

export interface DoctorCheck {
  name: string
  status: DoctorStatus
  detail: string
  fix?: string
}

export interface DoctorResult {
  ok: boolean
  checks: DoctorCheck[]
}

export const minimumNode = [20, 18] as const

export async function runDoctor(home: PocHome, options: {portOffset: number}): Promise<DoctorResult> {
  const checks: DoctorCheck[] = [
    nodeCheck(process.versions.node),
    ...binaryChecks(),
    await dockerCheck(),
    ...(await podmanChecks()),
    chromiumCheck(),
    await diskCheck(home),
    ...(await portChecks(home, options.portOffset)),
  ]
  return {ok: checks.every((c) => c.status !== 'fail'), checks}
}

export function nodeCheck(version: string): DoctorCheck {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const ok = major > minimumNode[0] || (major === minimumNode[0] && minor >= minimumNode[1])
  return {
    name: 'node',
    status: ok ? 'ok' : 'fail',
    detail: `Node.js ${version}`,
    fix: ok ? undefined : `Install Node.js ${minimumNode.join('.')} or newer.`,
  }
}

function binaryChecks(): DoctorCheck[] {
  const seen = new Set<string>()
  const checks: DoctorCheck[] = []
  for (const spec of catalog) {
    for (const requirement of spec.native?.binaries ?? []) {
      if (seen.has(requirement.name)) continue
      seen.add(requirement.name)
      // Only the default set is required; the rest (Prometheus) is needed with --with.
      checks.push(binaryCheck(requirement, spec.group === 'core', spec.name))
    }
  }
  return checks
}

function binaryCheck(requirement: BinaryRequirement, required: boolean, component: string): DoctorCheck {
  const found = findBinary(requirement)
  if (found) return {name: requirement.name, status: 'ok', detail: found}
  return {
    name: requirement.name,
    status: required ? 'fail' : 'warn',
    detail: `not installed (${component} under the native runtime${required ? '' : `, only with --with ${getComponent(component as never).group}`})`,
    fix: `apt-get install -y ${requirement.debianPackage}   (or: npm run setup)`,
  }
}

async function dockerCheck(): Promise<DoctorCheck> {
  const engine = await findRunningEngine('docker')
  return engine
    ? {
        name: 'docker',
        status: 'ok',
        detail: `an engine answers at ${describeAddress(engine.address)} (${engine.kind}); --runtime auto uses it`,
      }
    : {name: 'docker', status: 'ok', detail: 'no engine answers (DOCKER_HOST, /var/run/docker.sock)'}
}

/**
 * podman: the binary, the OCI runtime, and the containers.conf the service poc starts will
 * use. Without CONTAINERS_CONF poc passes its own (runc, cgroupfs, no default ulimits), which
 * cures the failures of sandboxes and CI hosts; a conf of the user's is checked against them.
 */
export async function podmanChecks(env: NodeJS.ProcessEnv = process.env): Promise<DoctorCheck[]> {
  const binary = podmanBinary()
  if (!binary) {
    return [
      {
        name: 'podman',
        status: 'ok',
        detail: 'not installed; --runtime podman needs it',
        fix: 'apt-get install -y podman runc   (or: npm run setup)',
      },
    ]
  }
  const checks: DoctorCheck[] = []
  const version = await execa(binary, ['--version'], {reject: false, timeout: 10_000})
  checks.push({
    name: 'podman',
    status: 'ok',
    detail: `${version.stdout.trim() || binary}; --runtime auto uses it when no docker engine answers`,
  })
  const runc = findBinary({name: 'runc', candidates: [], debianPackage: 'runc', searchPath: true})
  checks.push(
    runc
      ? {name: 'runc', status: 'ok', detail: runc}
      : {
          name: 'runc',
          status: 'warn',
          detail: "not installed: poc's containers.conf runs containers with runc",
          fix: 'apt-get install -y runc',
        },
  )
  if (!env.CONTAINERS_CONF) {
    checks.push({
      name: 'containers.conf',
      status: 'ok',
      detail:
        "CONTAINERS_CONF is not set: the podman service poc starts gets poc's own (runc, cgroupfs, default_ulimits = [])",
    })
    return checks
  }
  const info = await execa(binary, ['info', '--format', 'json'], {reject: false, timeout: 30_000, env})
  if (info.exitCode !== 0) {
    const hints = podmanHintsFor(`${info.stderr}`)
    checks.push({
      name: 'containers.conf',
      status: 'warn',
      detail: `podman info fails with CONTAINERS_CONF=${env.CONTAINERS_CONF}: ${info.stderr.trim().split('\n')[0] ?? ''}`,
      fix: hints[0] ?? 'Unset CONTAINERS_CONF to let poc pass its own.',
    })
    return checks
  }
  const host =
    (JSON.parse(info.stdout) as {host?: {cgroupManager?: string; ociRuntime?: {name?: string}}}).host ?? {}
  const problems: string[] = []
  if (host.cgroupManager === 'systemd' && !existsSync('/run/systemd/system'))
    problems.push('cgroup_manager = "cgroupfs"   (section [engine]): systemd does not run here')
  if (
    host.ociRuntime?.name &&
    !findBinary({name: host.ociRuntime.name, candidates: [], debianPackage: '', searchPath: true})
  )
    problems.push(`runtime = "runc"   (section [engine]): ${host.ociRuntime.name} is not installed`)
  checks.push(
    problems.length === 0
      ? {
          name: 'containers.conf',
          status: 'ok',
          detail: `${env.CONTAINERS_CONF}: ${host.ociRuntime?.name ?? '?'}, ${host.cgroupManager ?? '?'}`,
        }
      : {
          name: 'containers.conf',
          status: 'warn',
          detail: `${env.CONTAINERS_CONF} will not run containers here`,
          fix: `Write ${problems.join('; and ')} — or unset CONTAINERS_CONF to let poc pass its own.`,
        },
  )
  return checks
}

function chromiumCheck(): DoctorCheck {
  const found = findChromium()
  return found
    ? {name: 'chromium', status: 'ok', detail: found}
    : {
        name: 'chromium',
        status: 'warn',
        detail: `${chromiumMissingReason()}: needed by smoke scenario 14 and the browser tests only`,
        fix: 'apt-get install -y chromium',
      }
}

async function diskCheck(home: PocHome): Promise<DoctorCheck> {
  let dir = home.root
  while (!existsSync(dir)) dir = path.dirname(dir)
  const stats = await statfs(dir)
  const freeGiB = (stats.bavail * stats.bsize) / 1024 ** 3
  const ok = freeGiB >= 1
  return {
    name: 'disk',
    status: ok ? 'ok' : 'warn',
    detail: `${freeGiB.toFixed(1)} GiB free at ${dir}`,
    fix: ok ? undefined : 'Free some space: RabbitMQ stops accepting messages when disk runs low.',
  }
}

/** Ports of the default set: free, or held by this home's own running stack. */
async function portChecks(home: PocHome, portOffset: number): Promise<DoctorCheck[]> {
  const {state} = await readState(home, {moveCorruptAside: false})
  const ours = new Set(state?.components.flatMap((c) => Object.values(c.ports)) ?? [])
  const checks: DoctorCheck[] = []
  for (const spec of catalog.filter((c) => c.group === 'core' && c.native)) {
    for (const [portName, port] of Object.entries(resolvePorts(spec, portOffset))) {
      if (ours.has(port)) continue
      const holder = await checkPortFree(port)
      if (!holder) continue
      checks.push({
        name: `port ${port}`,
        status: 'warn',
        detail: `${spec.name} ${portName} port is taken by ${describeHolder(holder)}`,
        fix: `Stop that process or use --port-offset (e.g. poc up --port-offset 1000)`,
      })
    }
  }
  if (checks.length === 0) {
    checks.push({
      name: 'ports',
      status: 'ok',
      detail: `the default set's ports are free or ours (offset ${portOffset})`,
    })
  }
  return checks
}
