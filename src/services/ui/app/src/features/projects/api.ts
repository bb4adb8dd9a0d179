import {apiRequest, graphqlRequest} from '../../lib/api'
import {graphqlOrRest} from '../../lib/fetch-strategy'
import {newIdempotencyKey, queryString} from '../../lib/filters'
import {toProject, type Project, type ProjectAction, type ProjectPage, type ProjectWire} from './types'

export const pageSize = 24

export interface ProjectFilters {
  status: string
  keyword: string
  manager: string
  tag: string
  health: string
}

const projectFields = 'id code name clientName status startOn endOn manager health tags cancelledAt'

/** The seed's query (ui-poc ProjectsPage), so its specs' stubs answer it. */
const projectsPageQuery = `query ProjectsPage($status: String, $keyword: String, $manager: String, $health: String, $tag: String, $first: Int, $after: String) {
  projects(status: $status, keyword: $keyword, manager: $manager, health: $health, tag: $tag, first: $first, after: $after) {
    items { ${projectFields} }
    meta { total fetchedAt fallback returned }
    pageInfo { endCursor hasNextPage }
  }
}`

const createProjectMutation = `mutation CreateProject($input: CreateProjectInput!) {
  createProject(input: $input) { ok error message project { ${projectFields} } }
}`

const transitionMutation = `mutation TransitionProject($input: ProjectTransitionInput!) {
  projectTransition(input: $input) { ok error message project { ${projectFields} } }
}`

interface ListWire {
  items: ProjectWire[]
  meta?: {total?: number; returned?: number; fetchedAt?: string}
  next_cursor?: string
  pageInfo?: {endCursor?: string | null; hasNextPage?: boolean}
}

function toPage(wire: ListWire): ProjectPage {
  const items = wire.items.map(toProject)
  const endCursor = wire.next_cursor ?? wire.pageInfo?.endCursor ?? undefined
  return {
    items,
    total: wire.meta?.total ?? items.length,
    returned: wire.meta?.returned ?? items.length,
    fetchedAt: wire.meta?.fetchedAt ?? new Date().toISOString(),
    ...(endCursor ? {endCursor} : {}),
    hasNextPage: wire.pageInfo?.hasNextPage ?? wire.next_cursor !== undefined,
  }
}

export function restProjectsPath(filters: ProjectFilters, after?: string): string {
  return `/api/v1/projects${queryString({...filters, first: pageSize, after})}`
}

export function fetchProjects(
  filters: ProjectFilters,
  signal: AbortSignal,
  after?: string,
): Promise<ProjectPage> {
  const variables = {
    status: filters.status === 'all' ? undefined : filters.status,
    keyword: filters.keyword || undefined,
    manager: filters.manager || undefined,
    health: filters.health || undefined,
    tag: filters.tag || undefined,
    first: pageSize,
    after,
  }
  return graphqlOrRest(
    async () =>
      toPage((await graphqlRequest<{projects: ListWire}>(projectsPageQuery, variables, {signal})).projects),
    async () => toPage(await apiRequest<ListWire>(restProjectsPath(filters, after), {signal})),
  )
}

/** What pm's REST and GraphQL both take; the seed's names with today's beside them. */
export interface NewProject {
  name: string
  code: string
  clientName: string
  manager: string
  status: string
  health: string
}

export async function createProjectRest(input: NewProject): Promise<Project> {
  const answer = await apiRequest<{item: ProjectWire}>('/api/v1/projects', {
    method: 'POST',
    headers: {'idempotency-key': newIdempotencyKey('ui-project')},
    body: {
      ...(input.code ? {projectCode: input.code, code: input.code} : {projectCode: generatedCode()}),
      projectName: input.name,
      name: input.name,
      ...(input.clientName ? {clientName: input.clientName} : {}),
      ...(input.manager ? {manager: input.manager} : {}),
      status: input.status,
      health: input.health,
    },
  })
  return toProject(answer.item)
}

export async function createProjectGraphql(input: NewProject): Promise<{project: Project; message?: string}> {
  const data = await graphqlRequest<{
    createProject: {ok: boolean; error?: string; message?: string; project?: ProjectWire}
  }>(createProjectMutation, {
    input: {
      idempotencyKey: newIdempotencyKey('ui-project'),
      name: input.name,
      ...(input.code ? {code: input.code} : {}),
      ...(input.clientName ? {clientName: input.clientName} : {}),
      ...(input.manager ? {manager: input.manager} : {}),
      status: input.status,
      health: input.health,
    },
  })
  const answer = data.createProject
  if (!answer.ok || !answer.project) throw new Error(answer.message ?? answer.error ?? 'createProject failed')
  return {project: toProject(answer.project), ...(answer.message ? {message: answer.message} : {})}
}

export async function transitionProject(
  project: Project,
  action: ProjectAction,
  graphql: boolean,
): Promise<Project> {
  if (graphql) {
    try {
      const data = await graphqlRequest<{
        projectTransition: {ok: boolean; message?: string; project?: ProjectWire}
      }>(transitionMutation, {input: {projectId: project.id, action}})
      if (data.projectTransition.ok && data.projectTransition.project)
        return toProject(data.projectTransition.project)
    } catch {
      // REST below says what pm thinks of it.
    }
  }
  const answer = await apiRequest<{item?: ProjectWire; project?: ProjectWire}>(
    `/api/v1/projects/${encodeURIComponent(project.id)}/${action}`,
    {method: 'POST', headers: {'idempotency-key': newIdempotencyKey(`ui-${action}`)}, body: {}},
  )
  const item = answer.item ?? answer.project
  return item ? toProject(item) : project
}

function generatedCode(): string {
  return `PRJ-${Date.now().toString(36).toUpperCase()}`
}
