import {access, rm} from 'node:fs/promises'
import {setTimeout as delay} from 'node:timers/promises'

/*
 * poc up starts a host-process service before its dependencies are ready and names a gate file
 * (POC_START_GATE) it creates once they are. Meanwhile the service does everything that needs
 * none of them: it loads its code, reads its state and builds its HTTP server and routes. Only
 * what reaches another component waits for the gate: the broker (bus), Redis, the gateway's
 * outbox, and listening (nothing answers before the dependencies are ready). That leaves a
 * connect and a listen for after the gate (issue 19).
 */

let gate: Promise<void> | undefined
let opened = false

/** runService, once, before the service's main: the gate file to wait for, if any. */
export function setStartGate(file: string | undefined): void {
  gate = file ? untilExists(file) : undefined
}

/** Resolves once the service's dependencies are ready (at once when it was started without a gate). */
export async function dependenciesReady(): Promise<void> {
  await gate
}

/** Whether the service waits for a gate still closed: then nothing may reach its dependencies yet. */
export function startGated(): boolean {
  return gate !== undefined && !opened
}

async function untilExists(file: string): Promise<void> {
  opened = false
  for (;;) {
    try {
      await access(file)
      break
    } catch {
      await delay(10)
    }
  }
  await rm(file, {force: true})
  opened = true
}
