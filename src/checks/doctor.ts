import {existsSync} from 'node:fs'
import {statfs} from 'node:fs/promises'
import {request} from 'node:http'
import path from 'node:path'
import {type BinaryRequirement, catalog, getComponent, resolvePorts} from '../stack/catalog.js'
import type {PocHome} from '../stack/home.js'
import {findBinary} from '../stack/native.js'
import {checkPortFree, describeHolder} from '../stack/ports.js'
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
    podmanCheck(),
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

function dockerCheck(): Promise<DoctorCheck> {
  const socket = '/var/run/docker.sock'
  return new Promise((resolve) => {
    const note = 'the docker runtime is not implemented yet; native is used'
    if (!existsSync(socket)) {
      resolve({name: 'docker', status: 'ok', detail: `no engine at ${socket}; ${note}`})
      return
    }
    const req = request({socketPath: socket, path: '/_ping', timeout: 1000}, (res) => {
      res.resume()
      resolve({name: 'docker', status: 'ok', detail: `engine answers (HTTP ${res.statusCode}); ${note}`})
    })
    req.on('error', (error) =>
      resolve({name: 'docker', status: 'ok', detail: `engine does not answer (${error.message}); ${note}`}),
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

function podmanCheck(): DoctorCheck {
  const found = findBinary({name: 'podman', candidates: [], debianPackage: 'podman', searchPath: true})
  return {
    name: 'podman',
    status: 'ok',
    detail: `${found ?? 'not installed'}; the podman runtime is not implemented yet`,
  }
}

function chromiumCheck(): DoctorCheck {
  const found = findBinary({
    name: 'chromium',
    candidates: ['/usr/bin/chromium'],
    debianPackage: 'chromium',
    searchPath: true,
  })
  return found
    ? {name: 'chromium', status: 'ok', detail: found}
    : {
        name: 'chromium',
        status: 'warn',
        detail: 'not installed (needed for browser checks only)',
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
