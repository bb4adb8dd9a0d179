/** What the ui's /health says about pm. */
export interface PmReport {
  reachable: boolean
  url: string
  /** pm's HTTP status and its own `ok`, when it answered. */
  status?: number
  ok?: boolean
  latencyMs?: number
  /** pm answers GraphQL at /graphql (the pages then ask it first, as the seed's UI does). */
  graphql?: boolean
  error?: string
  checkedAt: string
}

/**
 * Asks pm's /health, at most once a second however often the ui's own /health is asked
 * (readiness polls it), and never longer than `timeoutMs`: the ui's health must answer while pm hangs.
 */
export class PmProbe {
  private last?: {at: number; report: PmReport}
  private pending?: Promise<PmReport>

  constructor(
    private readonly pmUrl: string,
    private readonly onResult: (reachable: boolean) => void = () => undefined,
    private readonly timeoutMs = 1000,
    private readonly cacheMs = 1000,
  ) {}

  check(): Promise<PmReport> {
    if (this.last && Date.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.report)
    this.pending ??= this.probe().finally(() => {
      this.pending = undefined
    })
    return this.pending
  }

  private async probe(): Promise<PmReport> {
    const started = performance.now()
    const url = `${this.pmUrl}/health`
    let report: PmReport
    try {
      const [response, graphql] = await Promise.all([
        fetch(url, {signal: AbortSignal.timeout(this.timeoutMs)}),
        this.answersGraphql(),
      ])
      const body = (await response.json().catch(() => ({}))) as {ok?: unknown}
      report = {
        reachable: true,
        url: this.pmUrl,
        status: response.status,
        ok: body.ok === true,
        latencyMs: Math.round(performance.now() - started),
        graphql,
        checkedAt: new Date().toISOString(),
      }
    } catch (error) {
      const cause = (error as {cause?: {code?: string}}).cause
      report = {
        reachable: false,
        url: this.pmUrl,
        error:
          (error as Error).name === 'TimeoutError'
            ? `no answer within ${this.timeoutMs} ms`
            : (cause?.code ?? (error as Error).message),
        checkedAt: new Date().toISOString(),
      }
    }
    this.last = {at: Date.now(), report}
    this.onResult(report.reachable)
    return report
  }

  private async answersGraphql(): Promise<boolean> {
    try {
      const response = await fetch(`${this.pmUrl}/graphql`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({query: '{ __typename }'}),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      if (!response.ok) return false
      return ((await response.json()) as {data?: {__typename?: unknown}}).data?.__typename !== undefined
    } catch {
      return false
    }
  }
}
