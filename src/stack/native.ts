import {spawn} from 'node:child_process'
import {accessSync, constants, mkdirSync, openSync, closeSync, writeSync} from 'node:fs'
import path from 'node:path'
import type {BinaryRequirement, NativeProcessSpec} from './catalog.js'
import {type Clock, systemClock} from './clock.js'
import {ExitCode, PocError} from './errors.js'
import {isListening} from './ports.js'
import {descendants, groupMembers, isRunning, readStat} from './proc.js'
import type {ProcessRecord} from './state.js'

/**
 * The native runtime's process manager: detached processes with their own log files,
 * recorded by pid and start time, stopped with SIGTERM, a grace period, then SIGKILL.
 */

export interface MissingBinary {
  requirement: BinaryRequirement
}

export function findBinary(
  requirement: BinaryRequirement,
  envPath = process.env.PATH ?? '',
): string | undefined {
  const onPath = requirement.searchPath
    ? envPath
        .split(':')
        .filter(Boolean)
        .map((dir) => path.join(dir, requirement.name))
    : []
  return [...requirement.candidates, ...onPath].find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Every binary of the requirements, or one error naming all the Debian packages that are missing. */
export function resolveBinaries(requirements: BinaryRequirement[]): Record<string, string> {
  const found: Record<string, string> = {}
  const missing: BinaryRequirement[] = []
  for (const requirement of requirements) {
    const binary = findBinary(requirement)
    if (binary) found[requirement.name] = binary
    else missing.push(requirement)
  }
  if (missing.length > 0) throw missingBinariesError(missing)
  return found
}

export function missingBinariesError(missing: BinaryRequirement[]): PocError {
  const packages = [...new Set(missing.map((m) => m.debianPackage))]
  return new PocError(
    `the native runtime needs ${missing.map((m) => m.name).join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed`,
    {
      exitCode: ExitCode.unavailable,
      code: 'missing_binary',
      suggestions: [
        `Install ${packages.length === 1 ? 'it' : 'them'}: apt-get install -y ${packages.join(' ')} (or run: npm run setup)`,
        'Check everything at once with: poc doctor',
      ],
    },
  )
}

/** Variables passed through from the caller; everything else a process sees comes from its recipe. */
const inheritedEnv = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_OPTIONS']

export async function spawnDetached(spec: NativeProcessSpec, logFile: string): Promise<ProcessRecord> {
  mkdirSync(path.dirname(logFile), {recursive: true})
  const fd = openSync(logFile, 'a')
  const commandText = [spec.command, ...spec.args].join(' ')
  writeSync(fd, `[poc] ${new Date().toISOString()} starting ${spec.role}: ${commandText}\n`)
  const env: Record<string, string> = {}
  for (const name of inheritedEnv)
    if (process.env[name] !== undefined) env[name] = process.env[name] as string
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: {...env, ...spec.env},
      // Its own session and process group: the stack outlives the CLI, and a signal to the group reaches helpers.
      detached: true,
      stdio: ['ignore', fd, fd],
    })
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', reject)
    })
    child.unref()
    const pid = child.pid as number
    const stat = readStat(pid)
    if (!stat) throw new PocError(`${spec.role} (${spec.command}) exited at once; see ${logFile}`)
    return {
      role: spec.role,
      pid,
      startTicks: stat.startTicks,
      command: commandText,
      ...(spec.leaderOnly ? {leaderOnly: true} : {}),
    }
  } finally {
    closeSync(fd)
  }
}

/** Helpers whose end does not take the component down: a container's log follower, a launcher once its server's pid is known. */
export const auxiliaryRoles: ReadonlySet<string> = new Set(['logs', 'launcher'])

/** The component runs: every essential process of it (a server, its epmd, a container's main process) is alive. */
export function processesAlive(records: ProcessRecord[]): boolean {
  const essential = records.filter((r) => !auxiliaryRoles.has(r.role))
  return essential.length > 0 && essential.every((r) => isRunning(r.pid, r.startTicks))
}

export interface StopOutcome {
  /** Some process needed SIGKILL after the grace period. */
  forced: boolean
  durationMs: number
}

interface Tracked {
  pid: number
  startTicks: number
}

/** Stop processes in reverse start order, each with its whole process tree. */
export async function stopProcesses(
  records: ProcessRecord[],
  graceMs: number,
  clock: Clock = systemClock,
): Promise<StopOutcome> {
  const start = clock.now()
  let forced = false
  for (const record of [...records].reverse()) forced = (await stopTree(record, graceMs, clock)) || forced
  return {forced, durationMs: clock.now() - start}
}

/**
 * A process, what runs in its group (which outlives a killed leader) and their children
 * (helpers such as Erlang's erl_child_setup leave the group). Returns whether SIGKILL was needed.
 */
async function stopTree(record: ProcessRecord, graceMs: number, clock: Clock): Promise<boolean> {
  const leaderAlive = isRunning(record.pid, record.startTicks)
  if (record.leaderOnly) return stopLeader(record, leaderAlive, graceMs, clock)
  const roots = [...(leaderAlive ? [record.pid] : []), ...groupMembers(record.pid)]
  const pids = new Set(roots.flatMap((pid) => [pid, ...descendants(pid)]))
  if (pids.size === 0) return false
  const tree: Tracked[] = [...pids].map((pid) =>
    pid === record.pid ? record : {pid, startTicks: readStat(pid)?.startTicks ?? -1},
  )
  signal(record.pid, 'SIGTERM', true)
  if (!leaderAlive) for (const p of tree) signal(p.pid, 'SIGTERM', false)
  const alive = () => tree.filter((p) => isRunning(p.pid, p.startTicks))
  const deadline = clock.now() + graceMs
  while (alive().length > 0 && clock.now() < deadline) await clock.sleep(50)
  const survivors = alive()
  if (survivors.length === 0) return false
  // Only processes still proven ours (same start time) are killed: a pid may have been reused meanwhile.
  for (const p of survivors) signal(p.pid, 'SIGKILL', p.pid === record.pid)
  const killDeadline = clock.now() + 5000
  while (alive().length > 0 && clock.now() < killDeadline) await clock.sleep(20)
  return true
}

async function stopLeader(
  record: ProcessRecord,
  alive: boolean,
  graceMs: number,
  clock: Clock,
): Promise<boolean> {
  if (!alive) return false
  const running = () => isRunning(record.pid, record.startTicks)
  signal(record.pid, 'SIGTERM', false)
  const deadline = clock.now() + graceMs
  while (running() && clock.now() < deadline) await clock.sleep(50)
  if (!running()) return false
  signal(record.pid, 'SIGKILL', false)
  const killDeadline = clock.now() + 5000
  while (running() && clock.now() < killDeadline) await clock.sleep(20)
  return true
}

function signal(pid: number, name: NodeJS.Signals, group: boolean): void {
  try {
    // We spawn with setsid, so the recorded pid leads its own process group (the group lives on
    // while any member does, even after the leader died). With no member left there is nothing
    // of ours to signal, and the bare pid may belong to someone else by now.
    if (!group) process.kill(pid, name)
    else if (groupMembers(pid).length > 0) process.kill(-pid, name)
  } catch {
    // Already gone.
  }
}

/** Wait until none of the ports has a listener; returns those still held at the deadline. */
export async function waitPortsFree(
  ports: number[],
  timeoutMs: number,
  clock: Clock = systemClock,
): Promise<number[]> {
  const deadline = clock.now() + timeoutMs
  for (;;) {
    const held = ports.filter((port) => isListening(port))
    if (held.length === 0 || clock.now() >= deadline) return held
    await clock.sleep(50)
  }
}
