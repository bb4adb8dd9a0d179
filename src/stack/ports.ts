import {readFileSync} from 'node:fs'
import net from 'node:net'
import {commandLine, pidsWithSocket} from './proc.js'

export interface PortHolder {
  pid?: number
  command?: string
  /** The port is the local end of a connection (a client socket), not a listener. */
  connection?: boolean
}

export interface PortConflict {
  component: string
  portName: string
  port: number
  holder: PortHolder
}

/** Sockets listening on a TCP port, read from /proc/net/tcp and tcp6 (state 0A is LISTEN). */
export function listeningInodes(port: number): string[] {
  return socketInodes(port, (state) => state === '0A')
}

/** Sockets whose local end is the port, in any state but LISTEN: client ends of connections, TIME_WAIT. */
function connectionInodes(port: number): string[] {
  // TIME_WAIT (06) sockets belong to no process any more: their inode is 0.
  return socketInodes(port, (state) => state !== '0A').filter((inode) => inode !== '0')
}

function socketInodes(port: number, wanted: (state: string) => boolean): string[] {
  const inodes: string[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const local = cols[1]
      if (!local || !cols[3] || !wanted(cols[3])) continue
      const localPort = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16)
      if (localPort === port && cols[9]) inodes.push(cols[9])
    }
  }
  return inodes
}

export function isListening(port: number): boolean {
  return listeningInodes(port).length > 0
}

/** Who listens on the port: pid and command line when /proc lets us see them. */
export function findPortHolder(port: number): PortHolder | undefined {
  const inodes = listeningInodes(port)
  if (inodes.length === 0) return connectionHolder(port)
  for (const inode of inodes) {
    const [pid] = pidsWithSocket(inode)
    if (pid !== undefined) return {pid, command: commandLine(pid)}
  }
  return {}
}

/** Who holds the port as the local end of a connection (the port was handed out as an ephemeral one). */
function connectionHolder(port: number): PortHolder | undefined {
  const inodes = connectionInodes(port)
  for (const inode of inodes) {
    const [pid] = pidsWithSocket(inode)
    if (pid !== undefined) return {pid, command: commandLine(pid), connection: true}
  }
  return inodes.length > 0 ? {connection: true} : undefined
}

/** Can we bind the port on the loopback address? The bind itself is the truth; /proc only names the holder. */
export function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen({port, host, exclusive: true}, () => server.close(() => resolve(true)))
  })
}

export async function checkPortFree(port: number): Promise<PortHolder | undefined> {
  if (await canBind(port)) return undefined
  return findPortHolder(port) ?? {}
}

export function describeHolder(holder: PortHolder): string {
  const what = holder.connection ? ', the local end of one of its connections' : ''
  if (holder.pid === undefined) {
    return holder.connection
      ? 'a connection of a process this user cannot see'
      : 'a process this user cannot see'
  }
  return `pid ${holder.pid}${holder.command ? ` (${truncate(holder.command, 120)})` : ''}${what}`
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
