import {readdirSync, readFileSync, readlinkSync} from 'node:fs'

/**
 * Linux /proc readers. A pid alone does not identify a process (pids are reused), so every
 * process we start is recorded with its start time in clock ticks since boot, and a pid
 * whose start time differs is somebody else's.
 */

export interface ProcStat {
  pid: number
  state: string
  ppid: number
  pgid: number
  startTicks: number
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const [state, ppid, pgid] = fields
  const startTicks = fields[19]
  if (state === undefined || ppid === undefined || pgid === undefined || startTicks === undefined)
    return undefined
  return {pid, state, ppid: Number(ppid), pgid: Number(pgid), startTicks: Number(startTicks)}
}

/** Alive and not a zombie. With startTicks, also the very process we recorded. */
export function isRunning(pid: number, startTicks?: number): boolean {
  const stat = readStat(pid)
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false
  return startTicks === undefined || stat.startTicks === startTicks
}

export function commandLine(pid: number): string | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    const line = raw.split('\0').filter(Boolean).join(' ')
    return line === '' ? undefined : line
  } catch {
    return undefined
  }
}

export function listPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
}

/**
 * Live processes (other than this one) whose working directory is `dir` or inside it. Everything
 * we start runs from its data directory, so this finds what still runs from a stack's files
 * even when the state file lost track of it.
 */
export function pidsWorkingUnder(dir: string): number[] {
  const prefix = `${dir}/`
  return listPids().filter((pid) => {
    if (pid === process.pid || !isRunning(pid)) return false
    try {
      return `${readlinkSync(`/proc/${pid}/cwd`)}/`.startsWith(prefix)
    } catch {
      return false
    }
  })
}

/** All live descendants of a process (children, grandchildren, …), found through their parent pids. */
export function descendants(rootPid: number): number[] {
  const children = new Map<number, number[]>()
  for (const pid of listPids()) {
    const stat = readStat(pid)
    if (!stat || stat.state === 'Z') continue
    const siblings = children.get(stat.ppid) ?? []
    siblings.push(pid)
    children.set(stat.ppid, siblings)
  }
  const found: number[] = []
  const queue = [rootPid]
  while (queue.length > 0) {
    const next = children.get(queue.shift() as number) ?? []
    found.push(...next)
    queue.push(...next)
  }
  return found
}

/**
 * Live members of a process group. We start every process as the leader of its own group, and
 * members keep that group after the leader dies (RabbitMQ's broker outlives a killed launcher
 * script), so the group finds what the leader's pid alone no longer does.
 */
export function groupMembers(pgid: number): number[] {
  return listPids().filter((pid) => {
    const stat = readStat(pid)
    return stat !== undefined && stat.state !== 'Z' && stat.pgid === pgid
  })
}

/** The pids holding a socket inode, found through /proc/<pid>/fd links. */
export function pidsWithSocket(inode: string): number[] {
  const target = `socket:[${inode}]`
  const pids: number[] = []
  for (const pid of listPids()) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) {
          pids.push(pid)
          break
        }
      } catch {
        // The fd closed while we looked.
      }
    }
  }
  return pids
}
