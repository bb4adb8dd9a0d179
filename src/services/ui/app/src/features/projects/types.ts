export const projectStatuses = ['planned', 'active', 'onhold', 'closed', 'cancelled'] as const
export type ProjectStatus = (typeof projectStatuses)[number]
export type ProjectAction = 'activate' | 'hold' | 'resume' | 'close' | 'cancel'

/** A project as the page shows it: the seed's field names. */
export interface Project {
  id: string
  code: string
  name: string
  clientName?: string
  status: ProjectStatus
  startOn?: string
  endOn?: string
  manager?: string
  health?: string
  tags: string[]
}

export interface ProjectPage {
  items: Project[]
  total: number
  returned: number
  fetchedAt: string
  endCursor?: string
  hasNextPage: boolean
}

export const statusLabel: Record<ProjectStatus, string> = {
  planned: 'Planned',
  active: 'Active',
  onhold: 'On Hold',
  closed: 'Closed',
  cancelled: 'Cancelled',
}

export const actionLabel: Record<ProjectAction, string> = {
  activate: 'Activate',
  hold: 'Hold',
  resume: 'Resume',
  close: 'Close',
  cancel: 'Cancel',
}

/** pm's transitions (SPEC §4.1); cancel closes any project that is not closed yet. */
export const transitions: Record<ProjectStatus, ProjectAction[]> = {
  planned: ['activate', 'close', 'cancel'],
  active: ['hold', 'close', 'cancel'],
  onhold: ['resume', 'close', 'cancel'],
  closed: [],
  cancelled: [],
}

/** pm's item, today's names or the seed's: both are read, the seed's first. */
export interface ProjectWire {
  id: string
  code?: string
  projectCode?: string
  name?: string
  projectName?: string
  clientName?: string | null
  status?: string
  startOn?: string | null
  endOn?: string | null
  manager?: string | null
  health?: string | null
  tags?: Array<string | null> | null
  cancelledAt?: string | null
}

export function toProject(wire: ProjectWire): Project {
  const status = (projectStatuses as readonly string[]).includes(wire.status ?? '')
    ? (wire.status as ProjectStatus)
    : 'planned'
  return {
    id: wire.id,
    code: wire.code ?? wire.projectCode ?? wire.id,
    name: wire.name ?? wire.projectName ?? wire.code ?? wire.id,
    ...(wire.clientName ? {clientName: wire.clientName} : {}),
    status: wire.cancelledAt && status === 'closed' ? 'cancelled' : status,
    ...(wire.startOn ? {startOn: wire.startOn} : {}),
    ...(wire.endOn ? {endOn: wire.endOn} : {}),
    ...(wire.manager ? {manager: wire.manager} : {}),
    ...(wire.health ? {health: wire.health} : {}),
    tags: (wire.tags ?? []).filter((t): t is string => typeof t === 'string'),
  }
}

export const sampleProjects: Project[] = [
  {
    id: 'PRJ-001',
    code: 'DX-2025-01',
    name: 'DX platform rollout',
    clientName: 'Kugel Retail',
    status: 'active',
    startOn: '2025-04-01',
    manager: '山田太郎',
    health: 'green',
    tags: ['DX', 'Priority'],
  },
  {
    id: 'PRJ-002',
    code: 'CRM-2025-02',
    name: 'CRM migration',
    clientName: 'Pekko Trading',
    status: 'active',
    startOn: '2025-05-15',
    manager: '佐藤花子',
    health: 'yellow',
    tags: ['SAP'],
  },
  {
    id: 'PRJ-003',
    code: 'POC-2025-03',
    name: 'Event backbone PoC',
    clientName: 'Internal',
    status: 'planned',
    startOn: '2025-09-01',
    manager: '田中',
    health: 'green',
    tags: ['Risk'],
  },
  {
    id: 'PRJ-004',
    code: 'OPS-2025-04',
    name: 'Operations support',
    clientName: 'Kugel Retail',
    status: 'onhold',
    startOn: '2025-02-01',
    manager: '鈴木',
    health: 'red',
    tags: ['AMS', 'Compliance'],
  },
]
