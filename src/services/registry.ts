import type {ComponentName} from '../stack/catalog.js'

/** A started service: `close()` stops taking work, finishes what is in flight and flushes state. */
export interface RunningService {
  close(): Promise<void>
}

export type ServiceMain = (env: NodeJS.ProcessEnv) => Promise<RunningService>

/**
 * The services `poc service run <name>` can start, loaded on demand so one service's
 * dependencies never slow another's start. A service is added here when it lands.
 */
export const services: Partial<Record<ComponentName, () => Promise<ServiceMain>>> = {
  pm: async () => (await import('./pm/main.js')).main,
  fi: async () => (await import('./fi/main.js')).main,
  sales: async () => (await import('./sales/main.js')).main,
  credit: async () => (await import('./credit/main.js')).main,
  contract: async () => (await import('./contract/main.js')).main,
  'invoice-worker': async () => (await import('./invoice-worker/main.js')).main,
  gateway: async () => (await import('./gateway/main.js')).main,
  ui: async () => (await import('./ui/main.js')).main,
}
