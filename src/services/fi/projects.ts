import {CircuitBreaker} from '../shared/circuit-breaker.js'
import type {Logger} from '../shared/logger.js'

export interface ProjectInfo {
  projectName?: string
  clientName?: string
}

export interface ProjectDirectoryOptions {
  /** pm's base URL; without it invoices are projected without project names. */
  pmUrl?: string
  logger: Logger
  /** How long a fetched project list is used before asking pm again. */
  maxAgeMs?: number
  /** How soon an unknown project code may trigger another fetch. */
  missRetryMs?: number
  requestTimeoutMs?: number
  breaker?: CircuitBreaker
  now?: () => number
}

/**
 * Names and clients of pm's projects, for fi's invoices. The call to pm goes through a circuit
 * breaker (3 failures → open 60 s → half-open probe): with pm down, fi keeps projecting
 * invoices at full speed, without the names, instead of waiting on pm for every event.
 */
export class ProjectDirectory {
  private projects = new Map<string, ProjectInfo>()
  private fetchedAt = Number.NEGATIVE_INFINITY
  private fetching: Promise<void> | undefined
  readonly breaker: CircuitBreaker
  private readonly now: () => number

  constructor(private readonly options: ProjectDirectoryOptions) {
    this.now = options.now ?? Date.now
    this.breaker =
      options.breaker ??
      new CircuitBreaker({
        name: 'pm',
        onStateChange: (state) => options.logger.warn({dependency: 'pm', state}, `circuit to pm is ${state}`),
      })
  }

  async lookup(projectCode: string | undefined): Promise<ProjectInfo | undefined> {
    if (!projectCode || !this.options.pmUrl) return undefined
    const age = this.now() - this.fetchedAt
    const stale = age > (this.options.maxAgeMs ?? 30_000)
    const missing = !this.projects.has(projectCode) && age > (this.options.missRetryMs ?? 2000)
    if (stale || missing) await this.refresh()
    return this.projects.get(projectCode)
  }

  private refresh(): Promise<void> {
    this.fetching ??= this.breaker
      .call(() => this.fetchProjects())
      .catch((error: unknown) => {
        this.options.logger.debug({err: error}, 'could not fetch projects from pm; invoices go without names')
      })
      .finally(() => {
        // A failure also counts as a fetch: the next try waits, rather than every event asking.
        this.fetchedAt = this.now()
        this.fetching = undefined
      })
    return this.fetching
  }

  private async fetchProjects(): Promise<void> {
    const response = await fetch(`${this.options.pmUrl}/api/v1/projects`, {
      signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 1000),
    })
    if (!response.ok) throw new Error(`pm answered ${response.status}`)
    const body = (await response.json()) as {
      items?: Array<{projectCode?: string; projectName?: string; clientName?: string}>
    }
    const projects = new Map<string, ProjectInfo>()
    for (const p of body.items ?? []) {
      if (p.projectCode) projects.set(p.projectCode, {projectName: p.projectName, clientName: p.clientName})
    }
    this.projects = projects
  }
}
