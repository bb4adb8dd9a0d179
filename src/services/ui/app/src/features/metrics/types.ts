/** pm's GET /metrics/summary and each /metrics/stream event. */
export interface MetricsSummary {
  projects: Record<string, number>
  timesheets: Record<string, number>
  invoices: Record<string, number>
  events: number
  cachedAt: string
  cacheTtlMs: number
  stale: boolean
  idempotency?: {projectKeys?: number; timesheetKeys?: number; [key: string]: unknown}
}

export const sampleSummary: MetricsSummary = {
  projects: {planned: 1, active: 2, onhold: 1, closed: 0},
  timesheets: {draft: 1, submitted: 5, approved: 3, rejected: 1},
  invoices: {draft: 0},
  events: 0,
  cachedAt: '2025-09-01T00:00:00.000Z',
  cacheTtlMs: 5000,
  stale: true,
  idempotency: {projectKeys: 0, timesheetKeys: 0},
}
