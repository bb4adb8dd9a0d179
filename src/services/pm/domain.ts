import {z} from 'zod'
import {HttpError} from '../shared/http.js'
import {parseInput} from '../shared/input.js'
import {type ComplianceInvoice, normalizeInvoice} from './invoices.js'

/**
 * pm's domain (SPEC §4.1): projects and timesheets with their state machines, invoices linked
 * from fi's events. Pure functions over the state: routes call them, the store persists.
 *
 * Projects and timesheets carry SPEC §4.1's names and the seed's (ITDO_ERP3 pm-service) side by
 * side: `projectCode`/`code`, `projectName`/`name`, `status`/`approvalStatus`, always equal.
 */
export const projectStatuses = ['planned', 'active', 'onhold', 'closed'] as const
export type ProjectStatus = (typeof projectStatuses)[number]
export type TimesheetStatus = 'draft' | 'submitted' | 'approved' | 'rejected'
export const projectHealths = ['green', 'yellow', 'red'] as const
export type ProjectHealth = (typeof projectHealths)[number]

export interface Project {
  id: string
  /** The seed's name of projectCode. */
  code: string
  /** The seed's name of projectName. */
  name: string
  projectCode: string
  projectName: string
  clientName?: string
  status: ProjectStatus
  /** YYYY-MM-DD; the day it was created unless given. */
  startOn: string
  /** YYYY-MM-DD; set to the day it closed when it closes (or is cancelled) without one. */
  endOn?: string
  manager?: string
  health: ProjectHealth
  tags: string[]
  createdAt: string
  updatedAt: string
  /** Cancel closes a project and publishes pm.project.cancelled; its event and key answer a replay. */
  cancelledAt?: string
  cancelEventId?: string
  cancelKey?: string
}

export interface Timesheet {
  id: string
  projectId: string
  projectCode: string
  /** The project's name, as the seed's UI shows it. */
  projectName: string
  userName: string
  /** Who the approval bills (the seed's field); the user name unless given. */
  employeeId: string
  taskName?: string
  hours: number
  workDate: string
  note?: string
  /** The seed's rate type (`standard` unless given); it travels in the approval. */
  rateType: string
  status: TimesheetStatus
  /** The seed's name of status, kept equal to it. */
  approvalStatus: TimesheetStatus
  /** When it was last submitted (or resubmitted). */
  submittedAt?: string
  /** The reasonCode of its last rejection. */
  lastReasonCode?: string
  createdAt: string
  updatedAt: string
  approvedAt?: string
  eventId?: string
  /** Idempotency-Key and shard of the approval, so a replay of that approve answers what it did. */
  approvalKey?: string
  approvalShard?: number
  invoiceId?: string
}

/** What fi.invoice.generated says of an invoice; pm keeps it as a compliance invoice. */
export interface InvoiceLink {
  invoiceId: string
  timesheetId: string
  projectCode?: string
  amount?: number
  currency?: string
  hours?: number
  status: string
  /** The approval's large payload in object storage (poc produce --with-attachments). */
  attachmentUrl?: string
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
  /** The seeded compliance invoices and those linked from fi's events, in one list. */
  invoices: ComplianceInvoice[]
  events: PmEvent[]
  /** Idempotency-Key of a project creation → the project it created, so a replay returns it. */
  projectRequests: Record<string, string>
  /** Idempotency-Key of a timesheet creation → the timesheet it created. */
  timesheetRequests?: Record<string, string>
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

/** Ids a client may choose (the seed's `id` field): they appear in URLs and log lines. */
const clientId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-", at most 64')

export const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
  .refine((value) => {
    const time = Date.parse(`${value}T00:00:00Z`)
    // Date.parse rolls 2026-02-30 over to March: a real day reads back as itself.
    return !Number.isNaN(time) && new Date(time).toISOString().startsWith(value)
  }, 'not a calendar date')

const projectInput = z
  .object({
    id: clientId.optional(),
    projectCode: z.string().trim().min(1).max(64).optional(),
    code: z.string().trim().min(1).max(64).optional(),
    projectName: z.string().trim().min(1).max(200).optional(),
    name: z.string().trim().min(1).max(200).optional(),
    clientName: z.string().trim().max(200).optional(),
    status: z.enum(projectStatuses).default('planned'),
    startOn: isoDate.optional(),
    endOn: isoDate.nullable().optional(),
    manager: z.string().trim().max(200).nullable().optional(),
    health: z.enum(projectHealths).default('green'),
    tags: z.array(z.string().trim().min(1).max(64)).max(20).default([]),
  })
  .superRefine((p, ctx) => {
    const issue = (path: string, message: string) =>
      ctx.addIssue({code: z.ZodIssueCode.custom, path: [path], message})
    if (!(p.projectCode ?? p.code)) issue('projectCode', 'projectCode (or code) is required')
    else if (p.projectCode && p.code && p.projectCode !== p.code)
      issue('code', 'code and projectCode name the same thing and differ')
    if (!(p.projectName ?? p.name)) issue('projectName', 'projectName (or name) is required')
    else if (p.projectName && p.name && p.projectName !== p.name)
      issue('name', 'name and projectName name the same thing and differ')
    if (p.startOn && p.endOn && p.endOn < p.startOn) issue('endOn', 'endOn is before startOn')
  })

/**
 * Validates a new project and answers what it would be, changing nothing: the caller publishes
 * pm.project.created and then adds it (addProject). A replay of a known Idempotency-Key answers the
 * project that key created.
 */
export function prepareProject(
  state: Readonly<PmState>,
  input: unknown,
  idempotencyKey: string | undefined,
  now: Date,
): {item: Project; idempotent: boolean} {
  if (idempotencyKey && state.projectRequests[idempotencyKey]) {
    const item = state.projects.find((p) => p.id === state.projectRequests[idempotencyKey])
    if (item) return {item, idempotent: true}
  }
  const data = parseInput(projectInput, input)
  const code = (data.projectCode ?? data.code) as string
  if (state.projects.some((p) => p.projectCode === code)) {
    throw new HttpError(409, 'duplicate_project', `a project with code ${code} already exists`)
  }
  if (data.id && state.projects.some((p) => p.id === data.id)) {
    throw new HttpError(409, 'duplicate_project', `a project with id ${data.id} already exists`)
  }
  const at = now.toISOString()
  const name = (data.projectName ?? data.name) as string
  const item: Project = {
    id:
      data.id ??
      nextId(
        'PRJ',
        state.projects.map((p) => p.id),
      ),
    code,
    name,
    projectCode: code,
    projectName: name,
    ...(data.clientName ? {clientName: data.clientName} : {}),
    status: data.status,
    startOn: data.startOn ?? at.slice(0, 10),
    ...(data.endOn ? {endOn: data.endOn} : {}),
    ...(data.manager ? {manager: data.manager} : {}),
    health: data.health,
    tags: [...new Set(data.tags)],
    createdAt: at,
    updatedAt: at,
  }
  return {item, idempotent: false}
}

export function addProject(state: PmState, item: Project, idempotencyKey: string | undefined): Project {
  state.projects.push(item)
  if (idempotencyKey) state.projectRequests[idempotencyKey] = item.id
  addEvent(state, {
    type: 'project.created',
    at: item.createdAt,
    key: item.id,
    detail: {projectCode: item.code},
  })
  return item
}

export function createProject(
  state: PmState,
  input: unknown,
  idempotencyKey: string | undefined,
  now: Date,
): {item: Project; idempotent: boolean} {
  const prepared = prepareProject(state, input, idempotencyKey, now)
  if (!prepared.idempotent) addProject(state, prepared.item, idempotencyKey)
  return prepared
}

export function findProject(state: Readonly<PmState>, idOrCode: string): Project {
  const project = state.projects.find((p) => p.id === idOrCode || p.projectCode === idOrCode)
  if (!project) throw new HttpError(404, 'project_not_found', `no project ${idOrCode}`)
  return project
}

export function projectAction(state: PmState, id: string, action: string, now: Date): Project {
  if (!Object.hasOwn(projectActions, action)) {
    throw new HttpError(
      400,
      'unknown_action',
      `unknown project action ${action}; use ${[...Object.keys(projectActions), 'cancel'].join(', ')}`,
    )
  }
  const project = findProject(state, id)
  const target = projectActions[action as keyof typeof projectActions]
  if (!projectTransitions[project.status].includes(target)) {
    throw new HttpError(409, 'action_not_allowed', `cannot ${action} a project that is ${project.status}`)
  }
  project.status = target
  project.updatedAt = now.toISOString()
  if (target === 'closed') project.endOn ??= project.updatedAt.slice(0, 10)
  addEvent(state, {type: `project.${action}`, at: project.updatedAt, key: project.id})
  return project
}

/**
 * Cancel is close with an event: any project that is not closed yet may be cancelled, and it
 * ends closed (the seed's UI knows no other status). Checked here, published by the caller,
 * then applied with applyProjectCancel.
 */
export function checkProjectCancel(state: Readonly<PmState>, id: string): Project {
  const project = findProject(state, id)
  if (project.status === 'closed') {
    throw new HttpError(409, 'action_not_allowed', `cannot cancel a project that is ${project.status}`)
  }
  return project
}

export function applyProjectCancel(
  state: PmState,
  id: string,
  now: Date,
  event: {eventId: string; key: string},
): Project {
  const project = checkProjectCancel(state, id)
  const from = project.status
  project.status = 'closed'
  project.updatedAt = now.toISOString()
  project.endOn ??= project.updatedAt.slice(0, 10)
  project.cancelledAt = project.updatedAt
  project.cancelEventId = event.eventId
  project.cancelKey = event.key
  addEvent(state, {
    type: 'project.cancelled',
    at: project.updatedAt,
    key: project.id,
    detail: {eventId: event.eventId, from},
  })
  return project
}

export interface ProjectQuery {
  status?: string
  keyword?: string
  manager?: string
  health?: string
  /** A tag every project listed has (the seed's manual tag: AND). */
  tag?: string
  /** Tags of which a project listed has at least one (the seed's preset tags: OR). */
  tags?: string[]
  /** Page size; without it every match is listed. */
  first?: number
  /** The id of the last project of the previous page (its next_cursor / endCursor). */
  after?: string
}

export interface ProjectPage {
  items: Project[]
  meta: {total: number; returned: number; fetchedAt: string; fallback: false}
  next_cursor?: string
  pageInfo: {endCursor: string | null; hasNextPage: boolean}
}

/** The seed's project filters (status `all` is none; text matches ignore case) and cursor paging. */
export function listProjects(state: Readonly<PmState>, query: ProjectQuery, now: Date): ProjectPage {
  const lower = (value: string | undefined) => value?.trim().toLowerCase() || undefined
  const status = lower(query.status)
  const keyword = lower(query.keyword)
  const manager = lower(query.manager)
  const health = lower(query.health)
  const tag = lower(query.tag)
  const anyOf = (query.tags ?? []).map((t) => t.trim().toLowerCase()).filter((t) => t && t !== tag)
  const matches = state.projects.filter((p) => {
    if (status && status !== 'all' && p.status !== status) return false
    if (health && p.health !== health) return false
    if (manager && !(p.manager ?? '').toLowerCase().includes(manager)) return false
    const tags = p.tags.map((t) => t.toLowerCase())
    if (tag && !tags.includes(tag)) return false
    if (anyOf.length > 0 && !anyOf.some((t) => tags.includes(t))) return false
    return !keyword || `${p.name} ${p.code} ${p.clientName ?? ''}`.toLowerCase().includes(keyword)
  })
  let start = 0
  if (query.after !== undefined && query.after !== '') {
    const index = matches.findIndex((p) => p.id === query.after)
    if (index < 0) {
      throw new HttpError(
        400,
        'validation_failed',
        `after: no project ${query.after} among those listed; pass the next_cursor of the previous page`,
        {field: 'after'},
      )
    }
    start = index + 1
  }
  const items = query.first === undefined ? matches.slice(start) : matches.slice(start, start + query.first)
  const hasNextPage = start + items.length < matches.length
  const endCursor = items.at(-1)?.id ?? null
  return {
    items,
    meta: {total: matches.length, returned: items.length, fetchedAt: now.toISOString(), fallback: false},
    ...(hasNextPage && endCursor ? {next_cursor: endCursor} : {}),
    pageInfo: {endCursor, hasNextPage},
  }
}

const timesheetInput = z
  .object({
    id: clientId.optional(),
    projectCode: z.string().trim().min(1).optional(),
    projectId: z.string().trim().min(1).optional(),
    // The seed's clients send it; the project's own name is what the timesheet shows.
    projectName: z.string().max(200).optional(),
    userName: z.string().trim().min(1).max(200),
    employeeId: z.string().trim().min(1).max(64).optional(),
    taskName: z.string().trim().max(200).optional(),
    hours: z.number().gt(0).lte(24).default(8),
    workDate: isoDate.optional(),
    note: z.string().max(10_000).optional(),
    rateType: z.string().trim().min(1).max(64).default('standard'),
    autoSubmit: z.boolean().default(false),
  })
  .refine((t) => t.projectCode ?? t.projectId, {
    message: 'projectCode or projectId is required',
    path: ['projectCode'],
  })

/** The timesheet an Idempotency-Key already created, if any. */
export function replayedTimesheet(state: Readonly<PmState>, idempotencyKey: string | undefined) {
  const id = idempotencyKey === undefined ? undefined : state.timesheetRequests?.[idempotencyKey]
  return id === undefined ? undefined : state.timesheets.find((t) => t.id === id)
}

export function createTimesheet(
  state: PmState,
  input: unknown,
  now: Date,
  idempotencyKey?: string,
): Timesheet {
  const data = parseInput(timesheetInput, input)
  const project = state.projects.find((p) =>
    data.projectCode === undefined
      ? p.id === data.projectId || p.projectCode === data.projectId
      : p.projectCode === data.projectCode,
  )
  if (!project) {
    throw new HttpError(
      400,
      'validation_failed',
      `projectCode: no project ${data.projectCode ?? data.projectId}`,
      {field: 'projectCode'},
    )
  }
  if (data.id && state.timesheets.some((t) => t.id === data.id)) {
    throw new HttpError(409, 'duplicate_timesheet', `a timesheet with id ${data.id} already exists`)
  }
  const at = now.toISOString()
  const status: TimesheetStatus = data.autoSubmit ? 'submitted' : 'draft'
  const item: Timesheet = {
    id:
      data.id ??
      nextId(
        'TS',
        state.timesheets.map((t) => t.id),
      ),
    projectId: project.id,
    projectCode: project.projectCode,
    projectName: project.name,
    userName: data.userName,
    employeeId: data.employeeId ?? data.userName,
    ...(data.taskName ? {taskName: data.taskName} : {}),
    hours: data.hours,
    workDate: data.workDate ?? at.slice(0, 10),
    ...(data.note === undefined ? {} : {note: data.note}),
    rateType: data.rateType,
    status,
    approvalStatus: status,
    ...(data.autoSubmit ? {submittedAt: at} : {}),
    createdAt: at,
    updatedAt: at,
  }
  state.timesheets.push(item)
  if (idempotencyKey) (state.timesheetRequests ??= {})[idempotencyKey] = item.id
  addEvent(state, {type: 'timesheet.created', at, key: item.id})
  return item
}

export function findTimesheet(state: Readonly<PmState>, id: string): Timesheet {
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

export interface TimesheetQuery {
  /** Matches status (= approvalStatus); `all` is no filter. */
  status?: string
  projectId?: string
  projectCode?: string
  userName?: string
  keyword?: string
  /** The last `limit` matches. */
  limit?: number
}

export function listTimesheets(state: Readonly<PmState>, query: TimesheetQuery): Timesheet[] {
  const status = query.status?.trim().toLowerCase() || 'all'
  const keyword = query.keyword?.trim().toLowerCase()
  const userName = query.userName?.trim().toLowerCase()
  const projectCode = query.projectCode?.trim().toLowerCase()
  const projectId = query.projectId?.trim()
  const matches = state.timesheets.filter((t) => {
    if (status !== 'all' && t.status !== status) return false
    if (projectId && t.projectId !== projectId && t.projectCode !== projectId) return false
    if (userName && !t.userName.toLowerCase().includes(userName)) return false
    if (projectCode && t.projectCode.toLowerCase() !== projectCode) return false
    if (!keyword) return true
    return [t.projectCode, t.projectName, t.userName, t.note, t.taskName]
      .filter(Boolean)
      .join(' ')
      .toLowerCase()
      .includes(keyword)
  })
  return query.limit === undefined ? matches : matches.slice(-query.limit)
}

/** What an action may carry (the seed's body): a comment, a rejection's reason, corrected hours or rate type. */
export const timesheetActionInput = z.object({
  comment: z.string().max(10_000).optional(),
  reasonCode: z.string().trim().min(1).max(64).optional(),
  hours: z.number().gt(0).lte(24).optional(),
  rateType: z.string().trim().min(1).max(64).optional(),
})
export type TimesheetActionInput = z.infer<typeof timesheetActionInput>

/** Checks a transition; `approve` is published by the caller before it is applied. */
export function checkTimesheetAction(
  state: Readonly<PmState>,
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
  input: TimesheetActionInput = {},
): Timesheet {
  const {timesheet, to} = checkTimesheetAction(state, id, action)
  setStatus(timesheet, to)
  timesheet.updatedAt = now.toISOString()
  if (input.hours !== undefined) timesheet.hours = input.hours
  if (input.rateType !== undefined) timesheet.rateType = input.rateType
  // The seed keeps an action's comment as the note; a rejection without one keeps the old note.
  if (input.comment) timesheet.note = input.comment
  if (action === 'submit' || action === 'resubmit') timesheet.submittedAt = timesheet.updatedAt
  if (action === 'reject' && input.reasonCode) timesheet.lastReasonCode = input.reasonCode
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

function setStatus(timesheet: Timesheet, status: TimesheetStatus): void {
  timesheet.status = status
  timesheet.approvalStatus = status
}

/** fi.invoice.generated → the invoice linked to its timesheet; a redelivery changes nothing. */
export function linkInvoice(
  state: PmState,
  invoice: InvoiceLink,
  now: Date,
  /** Whether an invoice id is in state.invoices already (a store passes its index: the list is long). */
  linked: (invoiceId: string) => boolean = (id) => state.invoices.some((i) => i.invoiceId === id),
): boolean {
  if (linked(invoice.invoiceId)) return false
  const timesheet = state.timesheets.find((t) => t.id === invoice.timesheetId)
  const projectCode = invoice.projectCode ?? timesheet?.projectCode
  const project = state.projects.find((p) => p.projectCode === projectCode)
  state.invoices.push(
    normalizeInvoice(
      {...invoice, ...(projectCode ? {projectCode} : {}), createdAt: now.toISOString()},
      {project, timesheet},
    ),
  )
  if (timesheet) timesheet.invoiceId = invoice.invoiceId
  addEvent(state, {
    type: 'invoice.linked',
    at: now.toISOString(),
    key: invoice.timesheetId,
    detail: {invoiceId: invoice.invoiceId},
  })
  return true
}

/**
 * Fills in the names a state written before them lacks (the seed's beside SPEC's, the
 * compliance fields of linked invoices), so a state file of an older pm, or one in the seed's
 * own shape (`code`, `approvalStatus`), reads as today's.
 */
export function normalizeState(state: PmState): PmState {
  for (const p of state.projects as Array<Partial<Project> & {id: string}>) {
    p.code ??= p.projectCode ?? p.id
    p.projectCode ??= p.code
    p.name ??= p.projectName ?? p.code
    p.projectName ??= p.name
    p.status ??= 'planned'
    p.health ??= 'green'
    p.tags ??= []
    p.createdAt ??= new Date(0).toISOString()
    p.updatedAt ??= p.createdAt
    p.startOn ??= p.createdAt.slice(0, 10)
  }
  const projects = state.projects as Project[]
  for (const t of state.timesheets as Array<Partial<Timesheet> & {id: string}>) {
    const status = (t.status ?? t.approvalStatus ?? 'draft') as TimesheetStatus
    t.status = status
    t.approvalStatus = status
    const project = projects.find((p) => p.id === t.projectId || p.projectCode === t.projectCode)
    t.projectId ??= project?.id ?? ''
    t.projectCode ??= project?.projectCode ?? t.projectId
    t.projectName ??= project?.name ?? t.projectCode
    t.userName ??= t.employeeId ?? ''
    t.employeeId ??= t.userName
    t.rateType ??= 'standard'
    t.createdAt ??= new Date(0).toISOString()
    t.updatedAt ??= t.createdAt
  }
  const timesheets = state.timesheets as Timesheet[]
  state.invoices = state.invoices.map((invoice) =>
    normalizeInvoice(invoice, {
      project: projects.find((p) => p.projectCode === invoice.projectCode),
      timesheet: timesheets.find((t) => t.id === invoice.timesheetId),
    }),
  )
  state.projectRequests ??= {}
  state.timesheetRequests ??= {}
  return state
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
