import {z} from 'zod'
import {HttpError} from '../shared/http.js'
import {parseInput} from '../shared/input.js'

/**
 * pm's domain (SPEC §4.1): projects and timesheets with their state machines, invoices linked
 * from fi's events. Pure functions over the state: routes call them, the store persists.
 */
export type ProjectStatus = 'planned' | 'active' | 'onhold' | 'closed'
export type TimesheetStatus = 'draft' | 'submitted' | 'approved' | 'rejected'

export interface Project {
  id: string
  projectCode: string
  projectName: string
  clientName?: string
  status: ProjectStatus
  createdAt: string
  updatedAt: string
}

export interface Timesheet {
  id: string
  projectId: string
  projectCode: string
  userName: string
  hours: number
  workDate: string
  note?: string
  status: TimesheetStatus
  createdAt: string
  updatedAt: string
  approvedAt?: string
  eventId?: string
  /** Idempotency-Key and shard of the approval, so a replay of that approve answers what it did. */
  approvalKey?: string
  approvalShard?: number
  invoiceId?: string
}

export interface InvoiceLink {
  invoiceId: string
  timesheetId: string
  projectCode?: string
  amount?: number
  status: string
  createdAt: string
}

export interface PmEvent {
  id: string
  type: string
  at: string
  key?: string
  detail?: Record<string, unknown>
}

export interface PmState {
  projects: Project[]
  timesheets: Timesheet[]
  invoices: InvoiceLink[]
  events: PmEvent[]
  /** Idempotency-Key of a project creation → the project it created, so a replay returns it. */
  projectRequests: Record<string, string>
}

export const maxEvents = 500

const projectTransitions: Record<ProjectStatus, ProjectStatus[]> = {
  planned: ['active', 'closed'],
  active: ['onhold', 'closed'],
  onhold: ['active', 'closed'],
  closed: [],
}
const projectActions = {activate: 'active', hold: 'onhold', resume: 'active', close: 'closed'} as const

const timesheetActions = {
  submit: {from: ['draft'], to: 'submitted'},
  approve: {from: ['submitted'], to: 'approved'},
  reject: {from: ['submitted'], to: 'rejected'},
  resubmit: {from: ['rejected'], to: 'submitted'},
} as const satisfies Record<string, {from: readonly TimesheetStatus[]; to: TimesheetStatus}>
export type TimesheetAction = keyof typeof timesheetActions

const projectInput = z
  .object({
    projectCode: z.string().trim().min(1).max(64),
    projectName: z.string().trim().min(1).max(200).optional(),
    name: z.string().trim().min(1).max(200).optional(),
    clientName: z.string().trim().max(200).optional(),
    status: z.enum(['planned', 'active', 'onhold', 'closed']).default('planned'),
  })
  .refine((p) => p.projectName ?? p.name, {
    message: 'projectName (or name) is required',
    path: ['projectName'],
  })

export function createProject(
  state: PmState,
  input: unknown,
  idempotencyKey: string | undefined,
  now: Date,
): {item: Project; idempotent: boolean} {
  if (idempotencyKey && state.projectRequests[idempotencyKey]) {
    const item = state.projects.find((p) => p.id === state.projectRequests[idempotencyKey])
    if (item) return {item, idempotent: true}
  }
  const data = parseInput(projectInput, input)
  if (state.projects.some((p) => p.projectCode === data.projectCode)) {
    throw new HttpError(409, 'duplicate_project', `a project with code ${data.projectCode} already exists`)
  }
  const at = now.toISOString()
  const item: Project = {
    id: nextId(
      'PRJ',
      state.projects.map((p) => p.id),
    ),
    projectCode: data.projectCode,
    projectName: (data.projectName ?? data.name) as string,
    ...(data.clientName ? {clientName: data.clientName} : {}),
    status: data.status,
    createdAt: at,
    updatedAt: at,
  }
  state.projects.push(item)
  if (idempotencyKey) state.projectRequests[idempotencyKey] = item.id
  addEvent(state, {type: 'project.created', at, key: item.id, detail: {projectCode: item.projectCode}})
  return {item, idempotent: false}
}

export function projectAction(state: PmState, id: string, action: string, now: Date): Project {
  if (!Object.hasOwn(projectActions, action)) {
    throw new HttpError(
      400,
      'unknown_action',
      `unknown project action ${action}; use ${Object.keys(projectActions).join(', ')}`,
    )
  }
  const project = state.projects.find((p) => p.id === id || p.projectCode === id)
  if (!project) throw new HttpError(404, 'project_not_found', `no project ${id}`)
  const target = projectActions[action as keyof typeof projectActions]
  if (!projectTransitions[project.status].includes(target)) {
    throw new HttpError(409, 'action_not_allowed', `cannot ${action} a project that is ${project.status}`)
  }
  project.status = target
  project.updatedAt = now.toISOString()
  addEvent(state, {type: `project.${action}`, at: project.updatedAt, key: project.id})
  return project
}

const timesheetInput = z
  .object({
    projectCode: z.string().trim().min(1).optional(),
    projectId: z.string().trim().min(1).optional(),
    userName: z.string().trim().min(1).max(200),
    hours: z.number().gt(0).lte(24),
    workDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD'),
    note: z.string().max(10_000).optional(),
    autoSubmit: z.boolean().default(false),
  })
  .refine((t) => t.projectCode ?? t.projectId, {
    message: 'projectCode or projectId is required',
    path: ['projectCode'],
  })

export function createTimesheet(state: PmState, input: unknown, now: Date): Timesheet {
  const data = parseInput(timesheetInput, input)
  const project = state.projects.find((p) => p.projectCode === data.projectCode || p.id === data.projectId)
  if (!project) {
    throw new HttpError(
      400,
      'validation_failed',
      `projectCode: no project ${data.projectCode ?? data.projectId}`,
      {field: 'projectCode'},
    )
  }
  const at = now.toISOString()
  const item: Timesheet = {
    id: nextId(
      'TS',
      state.timesheets.map((t) => t.id),
    ),
    projectId: project.id,
    projectCode: project.projectCode,
    userName: data.userName,
    hours: data.hours,
    workDate: data.workDate,
    ...(data.note === undefined ? {} : {note: data.note}),
    status: data.autoSubmit ? 'submitted' : 'draft',
    createdAt: at,
    updatedAt: at,
  }
  state.timesheets.push(item)
  addEvent(state, {type: 'timesheet.created', at, key: item.id})
  return item
}

export function findTimesheet(state: PmState, id: string): Timesheet {
  const timesheet = state.timesheets.find((t) => t.id === id)
  if (!timesheet) throw new HttpError(404, 'timesheet_not_found', `no timesheet ${id}`)
  return timesheet
}

export function deleteTimesheet(state: PmState, id: string, now: Date): Timesheet {
  const timesheet = findTimesheet(state, id)
  if (timesheet.status === 'approved') {
    throw new HttpError(409, 'action_not_allowed', `timesheet ${id} is approved and cannot be deleted`)
  }
  state.timesheets = state.timesheets.filter((t) => t.id !== id)
  addEvent(state, {type: 'timesheet.deleted', at: now.toISOString(), key: id})
  return timesheet
}

/** Checks and applies a transition; `approve` is published by the caller before it is applied. */
export function checkTimesheetAction(
  state: PmState,
  id: string,
  action: string,
): {timesheet: Timesheet; to: TimesheetStatus} {
  if (!Object.hasOwn(timesheetActions, action)) {
    throw new HttpError(
      400,
      'unknown_action',
      `unknown timesheet action ${action}; use ${Object.keys(timesheetActions).join(', ')}`,
    )
  }
  const timesheet = findTimesheet(state, id)
  const rule = timesheetActions[action as TimesheetAction]
  if (!(rule.from as readonly TimesheetStatus[]).includes(timesheet.status)) {
    throw new HttpError(409, 'action_not_allowed', `cannot ${action} a timesheet that is ${timesheet.status}`)
  }
  return {timesheet, to: rule.to}
}

export function applyTimesheetAction(
  state: PmState,
  id: string,
  action: string,
  now: Date,
  extra: {eventId?: string; approvalKey?: string; approvalShard?: number} = {},
): Timesheet {
  const {timesheet, to} = checkTimesheetAction(state, id, action)
  timesheet.status = to
  timesheet.updatedAt = now.toISOString()
  if (to === 'approved') {
    timesheet.approvedAt = timesheet.updatedAt
    if (extra.eventId) timesheet.eventId = extra.eventId
    if (extra.approvalKey !== undefined) timesheet.approvalKey = extra.approvalKey
    if (extra.approvalShard !== undefined) timesheet.approvalShard = extra.approvalShard
  }
  addEvent(state, {
    type: `timesheet.${action}`,
    at: timesheet.updatedAt,
    key: id,
    detail: extra.eventId ? {eventId: extra.eventId} : undefined,
  })
  return timesheet
}

/** fi.invoice.generated → the invoice linked to its timesheet; a redelivery changes nothing. */
export function linkInvoice(state: PmState, invoice: Omit<InvoiceLink, 'createdAt'>, now: Date): boolean {
  if (state.invoices.some((i) => i.invoiceId === invoice.invoiceId)) return false
  state.invoices.push({...invoice, createdAt: now.toISOString()})
  const timesheet = state.timesheets.find((t) => t.id === invoice.timesheetId)
  if (timesheet) timesheet.invoiceId = invoice.invoiceId
  addEvent(state, {
    type: 'invoice.linked',
    at: now.toISOString(),
    key: invoice.timesheetId,
    detail: {invoiceId: invoice.invoiceId},
  })
  return true
}

export function addEvent(state: PmState, event: Omit<PmEvent, 'id'>): void {
  const last = state.events.at(-1)
  const id = `EV-${(last ? Number(last.id.slice(3)) : 0) + 1}`
  state.events.push({id, ...event})
  if (state.events.length > maxEvents) state.events.splice(0, state.events.length - maxEvents)
}

function nextId(prefix: string, existing: string[]): string {
  const numbers = existing.map((id) => Number(id.slice(prefix.length + 1))).filter(Number.isFinite)
  return `${prefix}-${String(Math.max(0, ...numbers) + 1).padStart(3, '0')}`
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}
