import {apiRequest, graphqlRequest} from '../../lib/api'
import {graphqlOrRest} from '../../lib/fetch-strategy'
import {newIdempotencyKey, queryString} from '../../lib/filters'
import {toTimesheet, type Timesheet, type TimesheetAction, type TimesheetWire} from './types'

export interface TimesheetFilters {
  status: string
  keyword: string
  userName: string
  projectCode: string
}

export interface TimesheetList {
  items: Timesheet[]
  total: number
  returned: number
  fetchedAt: string
}

const fields = 'id userName projectCode projectName taskName workDate hours approvalStatus note submittedAt'

/** The seed's queries (ui-poc TimesheetsPage and friends), so its specs' stubs answer them. */
const timesheetsPageQuery = `query TimesheetsPage($status: String, $keyword: String, $userName: String, $projectCode: String) {
  timesheets(status: $status, keyword: $keyword, userName: $userName, projectCode: $projectCode) { ${fields} }
}`
const createMutation = `mutation CreateTimesheet($input: CreateTimesheetInput!) {
  createTimesheet(input: $input) { ok error message timesheet { ${fields} } }
}`
const actionMutation = `mutation TimesheetAction($input: TimesheetActionInput!) {
  timesheetAction(input: $input) { ok error message timesheet { ${fields} } eventId shard }
}`

export function restTimesheetsPath(filters: TimesheetFilters): string {
  return `/api/v1/timesheets${queryString({...filters, limit: 500})}`
}

export function fetchTimesheets(filters: TimesheetFilters, signal: AbortSignal): Promise<TimesheetList> {
  const variables = {
    status: filters.status === 'all' ? undefined : filters.status,
    keyword: filters.keyword || undefined,
    userName: filters.userName || undefined,
    projectCode: filters.projectCode || undefined,
  }
  return graphqlOrRest(
    async () => {
      const data = await graphqlRequest<{timesheets: TimesheetWire[]}>(timesheetsPageQuery, variables, {
        signal,
      })
      const items = data.timesheets.map(toTimesheet)
      return {items, total: items.length, returned: items.length, fetchedAt: new Date().toISOString()}
    },
    async () => {
      const answer = await apiRequest<{
        items: TimesheetWire[]
        meta?: {total?: number; returned?: number; fetchedAt?: string}
      }>(restTimesheetsPath(filters), {signal})
      const items = answer.items.map(toTimesheet)
      return {
        items,
        total: answer.meta?.total ?? items.length,
        returned: answer.meta?.returned ?? items.length,
        fetchedAt: answer.meta?.fetchedAt ?? new Date().toISOString(),
      }
    },
  )
}

export interface NewTimesheet {
  userName: string
  projectCode: string
  projectName: string
  workDate: string
  hours: number
  status: 'submitted' | 'draft'
  note: string
}

export async function createTimesheet(
  input: NewTimesheet,
  viaGraphql: boolean,
): Promise<{timesheet: Timesheet; message?: string; via: 'graphql' | 'rest'}> {
  const body = {
    userName: input.userName,
    projectCode: input.projectCode,
    ...(input.projectName ? {projectName: input.projectName} : {}),
    workDate: input.workDate,
    hours: input.hours,
    ...(input.note ? {note: input.note} : {}),
    autoSubmit: input.status === 'submitted',
  }
  if (viaGraphql) {
    const data = await graphqlRequest<{
      createTimesheet: {ok: boolean; error?: string; message?: string; timesheet?: TimesheetWire}
    }>(createMutation, {input: {...body, idempotencyKey: newIdempotencyKey('ui-timesheet')}})
    const answer = data.createTimesheet
    if (!answer.ok || !answer.timesheet)
      throw new Error(answer.message ?? answer.error ?? 'createTimesheet failed')
    return {
      timesheet: toTimesheet(answer.timesheet),
      ...(answer.message ? {message: answer.message} : {}),
      via: 'graphql',
    }
  }
  const answer = await apiRequest<{item: TimesheetWire}>('/api/v1/timesheets', {
    method: 'POST',
    headers: {'idempotency-key': newIdempotencyKey('ui-timesheet')},
    body,
  })
  return {timesheet: toTimesheet(answer.item), via: 'rest'}
}

export interface ActionInput {
  comment?: string
  reasonCode?: string
}

export async function timesheetAction(
  entry: Timesheet,
  action: TimesheetAction,
  input: ActionInput,
  viaGraphql: boolean,
): Promise<{timesheet: Timesheet; eventId?: string}> {
  if (viaGraphql) {
    try {
      const data = await graphqlRequest<{
        timesheetAction: {ok: boolean; message?: string; timesheet?: TimesheetWire; eventId?: string}
      }>(actionMutation, {input: {timesheetId: entry.id, action, ...input}})
      const answer = data.timesheetAction
      if (answer.ok && answer.timesheet)
        return {
          timesheet: toTimesheet(answer.timesheet),
          ...(answer.eventId ? {eventId: answer.eventId} : {}),
        }
    } catch {
      // REST below says what pm thinks of it.
    }
  }
  const answer = await apiRequest<{item: TimesheetWire; eventId?: string}>(
    `/api/v1/timesheets/${encodeURIComponent(entry.id)}/${action}`,
    {method: 'POST', body: input},
  )
  return {timesheet: toTimesheet(answer.item), ...(answer.eventId ? {eventId: answer.eventId} : {})}
}
