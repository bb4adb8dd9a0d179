export const timesheetStatuses = ['draft', 'submitted', 'approved', 'rejected'] as const
export type TimesheetStatus = (typeof timesheetStatuses)[number]
export type TimesheetAction = 'submit' | 'approve' | 'reject' | 'resubmit'

/** A timesheet as the page shows it: the seed's field names. */
export interface Timesheet {
  id: string
  userName: string
  employeeId?: string
  projectCode: string
  projectName: string
  taskName?: string
  workDate: string
  hours: number
  approvalStatus: TimesheetStatus
  note?: string
  submittedAt?: string
  rateType?: string
}

export const statusLabel: Record<TimesheetStatus, string> = {
  draft: 'Draft',
  submitted: 'Submitted',
  approved: 'Approved',
  rejected: 'Rejected',
}

export const actionLabel: Record<TimesheetAction, string> = {
  submit: 'Submit',
  approve: 'Approve',
  reject: 'Reject',
  resubmit: 'Resubmit',
}

/** pm's transitions (SPEC §4.1): draft→submitted→approved|rejected, rejected→submitted. */
export const availableActions: Record<TimesheetStatus, TimesheetAction[]> = {
  draft: ['submit'],
  submitted: ['approve', 'reject'],
  rejected: ['resubmit'],
  approved: [],
}

export interface TimesheetWire {
  id: string
  userName?: string
  employeeId?: string | null
  projectCode?: string | null
  projectId?: string | null
  projectName?: string | null
  taskName?: string | null
  workDate?: string
  hours?: number
  approvalStatus?: string | null
  status?: string
  note?: string | null
  submittedAt?: string | null
  rateType?: string | null
}

export function toTimesheet(wire: TimesheetWire): Timesheet {
  const raw = wire.approvalStatus ?? wire.status ?? 'draft'
  const status = (timesheetStatuses as readonly string[]).includes(raw) ? (raw as TimesheetStatus) : 'draft'
  const projectCode = wire.projectCode ?? wire.projectId ?? '—'
  return {
    id: wire.id,
    userName: wire.userName ?? wire.employeeId ?? '—',
    ...(wire.employeeId ? {employeeId: wire.employeeId} : {}),
    projectCode,
    projectName: wire.projectName ?? projectCode,
    ...(wire.taskName ? {taskName: wire.taskName} : {}),
    workDate: wire.workDate ?? '',
    hours: typeof wire.hours === 'number' ? wire.hours : 0,
    approvalStatus: status,
    ...(wire.note ? {note: wire.note} : {}),
    ...(wire.submittedAt ? {submittedAt: wire.submittedAt} : {}),
    ...(wire.rateType ? {rateType: wire.rateType} : {}),
  }
}

export const sampleTimesheets: Timesheet[] = [
  {
    id: 'TS-001',
    userName: 'sato',
    projectCode: 'DX-2025-01',
    projectName: 'DX platform rollout',
    workDate: '2025-09-01',
    hours: 7.5,
    approvalStatus: 'submitted',
    note: '要件定義レビュー',
    submittedAt: '2025-09-01T09:00:00.000Z',
  },
  {
    id: 'TS-002',
    userName: 'suzuki',
    projectCode: 'CRM-2025-02',
    projectName: 'CRM migration',
    workDate: '2025-09-02',
    hours: 8,
    approvalStatus: 'submitted',
    note: 'データ移行テスト',
    submittedAt: '2025-09-02T09:00:00.000Z',
  },
  {
    id: 'TS-003',
    userName: 'tanaka',
    projectCode: 'POC-2025-03',
    projectName: 'Event backbone PoC',
    workDate: '2025-09-03',
    hours: 6,
    approvalStatus: 'approved',
    submittedAt: '2025-09-03T09:00:00.000Z',
  },
  {
    id: 'TS-004',
    userName: 'yamada',
    projectCode: 'OPS-2025-04',
    projectName: 'Operations support',
    workDate: '2025-09-04',
    hours: 4,
    approvalStatus: 'draft',
  },
]
