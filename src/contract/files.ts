import {readFile} from 'node:fs/promises'
import path from 'node:path'

/*
 * Files that `poc up` and the services both know by name: the shared secrets under
 * $POC_HOME/secrets and the gateway's files in its data directory.
 */

/** The admin token (SPEC §7): `poc up` creates it, every service's admin routes require it. */
export const adminTokenFile = 'admin-token'

export function adminTokenPath(home: string): string {
  return path.join(home, 'secrets', adminTokenFile)
}

/** The admin token of the stack at `home`, or undefined when there is none (admin routes closed). */
export async function readAdminToken(home: string): Promise<string | undefined> {
  try {
    const token = (await readFile(adminTokenPath(home), 'utf8')).trim()
    return token === '' ? undefined : token
  } catch {
    return undefined
  }
}

/** The gateway's files in its DATA_DIR; `poc reset --gateway` keeps `orderIds`. */
export const gatewayFiles = {
  wal: 'audit.log',
  outboxOffset: 'outbox.offset',
  orderIds: 'order-ids.json',
} as const
