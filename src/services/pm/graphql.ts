import {costLimitRule} from '@escape.tech/graphql-armor-cost-limit'
import {maxDepthRule} from '@escape.tech/graphql-armor-max-depth'
import {
  type ExecutionResult,
  GraphQLError,
  GraphQLScalarType,
  Location,
  type ValidationContext,
} from 'graphql'
import mercurius, {type IResolvers, type MercuriusContext} from 'mercurius'
import {z} from 'zod'
import {HttpError, type HttpServer} from '../shared/http.js'
import {checkIdempotencyKey, idempotencyKeyOf} from '../shared/idempotency-key.js'
import {parseInput} from '../shared/input.js'
import type {PmCommands} from './commands.js'
import {invoiceQuery} from './invoices.js'

/**
 * pm's GraphQL API (POST /graphql, GET /graphql for queries, GraphiQL at /graphiql outside
 * production): the seed's schema (ITDO_ERP3 pm-service graphql-schema.js) over the same commands
 * as REST, so an approval made here takes the same lock, idempotency key and publish-before-apply.
 *
 * Bad input is what REST would refuse: HTTP 400 (or REST's own status) with the GraphQL errors,
 * REST's code in each error's `extensions.code`. A mutation the state refuses (unknown id, a
 * transition not allowed, a duplicate) answers as the seed's does: `ok: false` with `error` (the
 * REST code) and `message`.
 */
export const schema = /* GraphQL */ `
  "Any JSON value (counts by status, idempotency figures, pm's event log entries)."
  scalar JSON

  type MetricsSummary {
    projects: JSON!
    timesheets: JSON!
    invoices: JSON!
    events: Int!
    idempotency: JSON
    cachedAt: String!
    cacheTtlMs: Int!
    stale: Boolean!
  }

  type Project {
    id: ID!
    code: String!
    name: String!
    projectCode: String!
    projectName: String!
    clientName: String
    status: String!
    startOn: String
    endOn: String
    manager: String
    health: String
    tags: [String!]!
    createdAt: String
    updatedAt: String
    cancelledAt: String
  }

  type ProjectListMeta {
    total: Int!
    returned: Int!
    fetchedAt: String!
    fallback: Boolean!
  }

  type ProjectPageInfo {
    endCursor: String
    hasNextPage: Boolean!
  }

  type ProjectListConnection {
    items: [Project!]!
    meta: ProjectListMeta!
    pageInfo: ProjectPageInfo!
  }

  type Timesheet {
    id: ID!
    userName: String!
    employeeId: String
    projectId: String!
    projectCode: String!
    projectName: String
    taskName: String
    workDate: String!
    hours: Float!
    approvalStatus: String!
    status: String!
    submittedAt: String
    note: String
    rateType: String
    lastReasonCode: String
    approvedAt: String
    eventId: String
    invoiceId: String
    createdAt: String
    updatedAt: String
  }

  type InvoiceAttachment {
    id: ID!
    kind: String
    fileName: String
    mimeType: String
    sizeLabel: String
    previewNote: String
    storageKey: String
    "Presigned GET URL (USE_MINIO), valid MINIO_PRESIGN_SECONDS; absent while the object is unavailable."
    downloadUrl: String
    "USE_MINIO: the object is uploaded and downloadUrl works."
    available: Boolean
    unavailableReason: String
    "SHA-256 (hex) and size of the object's bytes."
    sha256: String
    sizeBytes: Int
    contentType: String
  }

  type Invoice {
    id: ID!
    invoiceId: String!
    invoiceNumber: String!
    issueDate: String!
    dueDate: String
    counterpartyName: String
    counterpartyNumber: String
    subject: String
    amountIncludingTax: Float
    amountExcludingTax: Float
    currency: String
    status: String!
    tags: [String!]!
    remarks: String
    matchedPurchaseOrder: String
    attachments: [InvoiceAttachment!]!
    createdAt: String
    updatedAt: String
    "seed: a seeded record; fi: linked from fi.invoice.generated."
    source: String
    timesheetId: String
    projectCode: String
    amount: Float
    "Of an invoice linked from fi: the approval's large payload in object storage (poc produce --with-attachments)."
    attachmentUrl: String
  }

  type ComplianceInvoiceMeta {
    total: Int!
    page: Int!
    pageSize: Int!
    totalPages: Int!
    sortBy: String!
    sortDir: String!
    fetchedAt: String!
    fallback: Boolean!
  }

  type ComplianceInvoicesConnection {
    items: [Invoice!]!
    meta: ComplianceInvoiceMeta!
  }

  input ComplianceInvoiceFilterInput {
    keyword: String
    status: String
    startDate: String
    endDate: String
    minAmount: Float
    maxAmount: Float
    page: Int
    pageSize: Int
    sortBy: String
    sortDir: String
  }

  type ProjectMutationPayload {
    ok: Boolean!
    project: Project
    error: String
    message: String
    eventId: String
  }

  type TimesheetMutationPayload {
    ok: Boolean!
    timesheet: Timesheet
    error: String
    eventId: String
    shard: Int
    message: String
  }

  input CreateProjectInput {
    id: ID
    code: String
    name: String!
    clientName: String
    status: String
    startOn: String
    endOn: String
    manager: String
    health: String
    tags: [String!]
    idempotencyKey: String
  }

  "action: activate | hold | resume | close | cancel (cancel publishes pm.project.cancelled)."
  input ProjectTransitionInput {
    projectId: ID
    code: String
    action: String!
    idempotencyKey: String
  }

  input CreateTimesheetInput {
    id: ID
    userName: String!
    employeeId: String
    projectId: String
    projectCode: String
    projectName: String
    taskName: String
    workDate: String
    hours: Float
    note: String
    rateType: String
    autoSubmit: Boolean
    idempotencyKey: String
  }

  "action: submit | approve | reject | resubmit (approve publishes pm.timesheet.approved)."
  input TimesheetActionInput {
    timesheetId: ID!
    action: String!
    comment: String
    reasonCode: String
    hours: Float
    rateType: String
    idempotencyKey: String
  }

  type Query {
    metricsSummary(refresh: Boolean): MetricsSummary!
    projects(
      status: String
      keyword: String
      manager: String
      health: String
      tag: String
      tags: [String!]
      first: Int
      after: String
    ): ProjectListConnection!
    timesheets(
      status: String
      projectId: String
      keyword: String
      userName: String
      projectCode: String
    ): [Timesheet!]!
    invoices(status: String, keyword: String, minAmount: Float, maxAmount: Float, limit: Int): [Invoice!]!
    complianceInvoices(filter: ComplianceInvoiceFilterInput): ComplianceInvoicesConnection!
    recentEvents(limit: Int): [JSON!]!
  }

  type Mutation {
    createProject(input: CreateProjectInput!): ProjectMutationPayload!
    projectTransition(input: ProjectTransitionInput!): ProjectMutationPayload!
    createTimesheet(input: CreateTimesheetInput!): TimesheetMutationPayload!
    timesheetAction(input: TimesheetActionInput!): TimesheetMutationPayload!
  }
`

/** Deepest selection a query may have (introspection's __schema aside, which GraphiQL needs deeper). */
export const maxQueryDepth = 8
/** graphql-armor's cost: objects 2, scalars 1, ×1.5 a level, × a literal `first`. */
export const maxQueryCost = 5000
/** Tokens a document may have: GraphiQL's introspection query has about 200. */
export const maxQueryTokens = 1000
/** The seed's page size for projects when a query gives no `first`. */
const defaultProjectPage = 24

/** Output only: what pm reports is JSON already. */
const jsonScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (value) => value,
  parseValue: () => {
    throw new GraphQLError('JSON is an output type here')
  },
})

const text = z.string().max(200).optional()

const projectArgs = z.object({
  status: text,
  keyword: text,
  manager: text,
  health: text,
  tag: text,
  tags: z.array(z.string().max(200)).max(50).optional(),
  first: z.number().int().min(1).max(100).default(defaultProjectPage),
  after: z.string().max(256).optional(),
})

const timesheetArgs = z.object({
  status: text,
  projectId: text,
  keyword: text,
  userName: text,
  projectCode: text,
})

const invoicesArgs = z.object({
  status: text,
  keyword: text,
  minAmount: z.number().min(0).optional(),
  maxAmount: z.number().min(0).optional(),
  limit: z.number().int().min(1).max(100).default(100),
})

const limitArg = z.object({limit: z.number().int().min(1).max(500).default(20)})

/** GraphQL's null for an argument or input field is "not given", as REST's absent field. */
function given<T extends object>(value: T | null | undefined): Partial<T> {
  return Object.fromEntries(
    Object.entries(value ?? {}).filter(([, v]) => v !== null && v !== undefined),
  ) as Partial<T>
}

/** Splits the input's idempotencyKey off (checked as REST checks it), else takes the request's header. */
function keyed<T extends {idempotencyKey?: unknown}>(
  input: T,
  context: MercuriusContext,
): {rest: Omit<T, 'idempotencyKey'>; key: string | undefined} {
  const {idempotencyKey, ...rest} = input
  return {rest, key: checkIdempotencyKey(idempotencyKey) ?? idempotencyKeyOf(context.reply.request)}
}

/** The seed's payloads: what the state refuses (404, 409) is `ok: false`, not a GraphQL error. */
async function payload<T extends object>(
  work: () => Promise<T>,
): Promise<(T & {ok: true}) | {ok: false; error: string; message: string}> {
  try {
    return {ok: true, ...(await work())}
  } catch (error) {
    if (error instanceof HttpError && (error.status === 404 || error.status === 409)) {
      return {ok: false, error: error.code, message: error.message}
    }
    throw error
  }
}

function resolvers(commands: PmCommands): IResolvers {
  return {
    JSON: jsonScalar,
    Query: {
      metricsSummary: (_root, args: {refresh?: boolean | null}) => commands.summary(args.refresh === true),
      projects: (_root, args) => commands.listProjects(parseInput(projectArgs, given(args))),
      timesheets: (_root, args) => commands.listTimesheets(parseInput(timesheetArgs, given(args))),
      invoices: async (_root, args) => {
        const {limit, ...filter} = parseInput(invoicesArgs, given(args))
        return (await commands.complianceInvoices(parseInput(invoiceQuery, {...filter, pageSize: limit})))
          .items
      },
      complianceInvoices: (_root, args: {filter?: Record<string, unknown> | null}) =>
        commands.complianceInvoices(parseInput(invoiceQuery, given(args.filter))),
      recentEvents: (_root, args) => commands.recentEvents(parseInput(limitArg, given(args)).limit),
    },
    Mutation: {
      createProject: (_root, args: {input: Record<string, unknown>}, context: MercuriusContext) =>
        payload(async () => {
          const {rest, key} = keyed(given(args.input), context)
          const {item, idempotent, eventId} = await commands.createProject(rest, key)
          return {
            project: item,
            eventId,
            message: idempotent ? 'Project already existed (idempotent)' : 'Project created',
          }
        }),
      projectTransition: (_root, args: {input: Record<string, unknown>}, context: MercuriusContext) =>
        payload(async () => {
          const {rest, key} = keyed(given(args.input), context)
          const {projectId, code, action} = parseInput(
            z
              .object({
                projectId: z.string().min(1).optional(),
                code: z.string().min(1).optional(),
                action: z.string(),
              })
              .refine((i) => i.projectId ?? i.code, {
                message: 'projectId or code is required',
                path: ['projectId'],
              }),
            rest,
          )
          const target = (projectId ?? code) as string
          if (action === 'cancel') {
            const {item, eventId, idempotent} = await commands.cancelProject(target, key)
            return {
              project: item,
              eventId,
              message: idempotent ? 'Project already cancelled (idempotent)' : 'Project cancelled',
            }
          }
          const project = await commands.projectAction(target, action)
          return {project, message: `Project transitioned to ${project.status}`}
        }),
      createTimesheet: (_root, args: {input: Record<string, unknown>}, context: MercuriusContext) =>
        payload(async () => {
          const {rest, key} = keyed(given(args.input), context)
          const {item, idempotent} = await commands.createTimesheet(rest, key)
          const what = item.status === 'submitted' ? 'Timesheet created and submitted' : 'Timesheet created'
          return {timesheet: item, message: idempotent ? 'Timesheet already existed (idempotent)' : what}
        }),
      timesheetAction: (_root, args: {input: Record<string, unknown>}, context: MercuriusContext) =>
        payload(async () => {
          const {rest, key} = keyed(given(args.input), context)
          const {timesheetId, action, ...body} = rest as {timesheetId: string; action: string}
          const result = await commands.timesheetAction(timesheetId, action, body, key)
          const message =
            action === 'approve'
              ? `Timesheet approved${result.idempotent ? ' (idempotent)' : ''}`
              : `Timesheet transitioned to ${result.item.status}`
          return {timesheet: result.item, eventId: result.eventId, shard: result.shard, message}
        }),
    },
  }
}

interface ErrorAnswer {
  status: number
  code: string
  message?: string
  details?: Record<string, unknown>
}

/** Fastify's and mercurius' own refusals of a request to /graphql, under REST's codes. */
const frameworkCodes: Record<string, {code: string; message?: string}> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {code: 'invalid_json'},
  FST_ERR_CTP_EMPTY_JSON_BODY: {code: 'invalid_json'},
  FST_ERR_CTP_BODY_TOO_LARGE: {code: 'payload_too_large'},
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {code: 'unsupported_media_type'},
  MER_ERR_METHOD_NOT_ALLOWED: {code: 'method_not_allowed'},
  MER_ERR_GQL_PERSISTED_QUERY_NOT_FOUND: {
    code: 'query_missing',
    message: 'the request has no GraphQL query; send {"query": "…", "variables": {…}}',
  },
}

/** What one GraphQL error means under REST's contract. */
function classify(error: GraphQLError, container: unknown): ErrorAnswer {
  const original = error.originalError as (Error & {code?: string; statusCode?: number}) | undefined
  if (original instanceof HttpError) {
    return {status: original.status, code: original.code, details: original.details}
  }
  const own = error.extensions?.code
  if (typeof own === 'string') return {status: 400, code: own}
  const outer = container as {code?: string; statusCode?: number} | undefined
  if (outer?.code === 'MER_ERR_GQL_VALIDATION' || original?.code === 'MER_ERR_GQL_VALIDATION') {
    if (error.message.includes('tokens. Parsing aborted')) return {status: 400, code: 'query_too_large'}
    if (error.message.startsWith('Syntax Error')) return {status: 400, code: 'graphql_syntax_error'}
    return {status: 400, code: 'graphql_validation_failed'}
  }
  const refusal = original ?? outer
  const status = refusal?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const known = frameworkCodes[refusal?.code ?? '']
    return {status, code: known?.code ?? 'bad_request', message: known?.message}
  }
  // graphql-js's own refusals of the request (no operation of that name, several without a
  // name, a subscription): no resolver threw them.
  if (original === undefined && container === undefined) return {status: 400, code: 'graphql_request_invalid'}
  return {
    status: 500,
    code: 'internal',
    message: 'internal error; the service log has the details',
  }
}

/**
 * Every answer with errors: the errors with REST's code in `extensions.code`, and the HTTP
 * status REST would give (the first error's; 400 for a query GraphQL itself refuses). A bug
 * (anything else thrown) is a 500 whose message stays in the log.
 */
function formatErrors(
  execution: ExecutionResult & {errors: readonly GraphQLError[]},
  context: MercuriusContext,
): {statusCode: number; response: ExecutionResult} {
  const log = context.reply?.log ?? context.app.log
  const answers: Array<{error: GraphQLError; answer: ErrorAnswer}> = []
  for (const error of execution.errors) {
    const inner = (error.originalError as {errors?: unknown[]} | undefined)?.errors
    if (Array.isArray(inner) && inner.length > 0) {
      for (const each of inner) {
        const graphqlError =
          each instanceof GraphQLError ? each : new GraphQLError(String((each as Error).message))
        answers.push({error: graphqlError, answer: classify(graphqlError, error.originalError)})
      }
    } else {
      answers.push({error, answer: classify(error, undefined)})
    }
  }
  for (const {error, answer} of answers) {
    if (answer.status >= 500) {
      log.error({err: error.originalError ?? error}, 'graphql: unhandled error')
      console.log('DEBUG', error.originalError)
    }
  }
  const errors = answers.map(
    ({error, answer}) =>
      new GraphQLError(answer.message ?? error.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        extensions: {...answer.details, ...error.extensions, code: answer.code},
      }),
  )
  return {
    statusCode: answers[0]?.answer.status ?? 400,
    response: {data: execution.data ?? null, errors},
  }
}

export interface GraphqlOptions {
  /** GraphiQL at /graphiql (its page loads GraphiQL itself from unpkg.com). */
  graphiql: boolean
}

export function registerPmGraphql(app: HttpServer, commands: PmCommands, options: GraphqlOptions): void {
  // Reported as validation errors (400) with our code, instead of thrown out of validate().
  const refuse = (code: string) => (context: ValidationContext | null, error: GraphQLError) =>
    context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {extensions: {code}}))
  void app.register(mercurius, {
    schema,
    resolvers: resolvers(commands),
    graphiql: options.graphiql,
    errorFormatter: formatErrors as never,
    graphql: {parseOptions: {maxTokens: maxQueryTokens}},
    validationRules: [
      maxDepthRule({n: maxQueryDepth, propagateOnRejection: false, onReject: [refuse('query_too_deep')]}),
      costLimitRule({
        maxCost: maxQueryCost,
        propagateOnRejection: false,
        onReject: [refuse('query_too_complex')],
      }),
    ],
  })
  // A query that is no GraphQL but parses as JSON ("7", "{}") reaches mercurius' document-as-JSON
  // path and breaks graphql's validators (a 500); a parsed document carries its Location.
  app.after(() => {
    app.graphql.addHook('preValidation', (_schema, document) => {
      if (!(document.loc instanceof Location)) {
        throw new HttpError(
          400,
          'graphql_syntax_error',
          'the query is not a GraphQL document; send it as text',
        )
      }
    })
  })
}
