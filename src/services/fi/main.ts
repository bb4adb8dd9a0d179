import path from 'node:path'
import {z} from 'zod'
import type {RunningService, ServiceMain} from '../registry.js'
import {baseConfig, parseConfig} from '../shared/config.js'
import {createLogger} from '../shared/logger.js'
import {startServiceBase} from '../shared/service-base.js'
import {type Envelope, makeEnvelope} from '../../contract/envelope.js'
import {readAdminToken} from '../../contract/files.js'
import {budgetAllocatedKey, orderEvents} from '../../contract/orders.js'
import {exchanges} from '../../contract/topology.js'
import type {HandlerOutcome} from '../shared/bus.js'
import {KeyedSerial} from '../shared/keyed-serial.js'
import {FiJournal} from './journal.js'
import {ProjectDirectory} from './projects.js'
import {FiReadModel, fiEventTypes, invalidEvent} from './read-model.js'
import {registerFiRoutes} from './routes.js'

const fiConfig = baseConfig.extend({
  FI_JOURNAL_FILE: z.string().optional(),
  /** pm's URL, for project names on invoices (guarded by a circuit breaker). */
  PM_URL: z.string().url().optional(),
  /** Events projected concurrently; their journal writes share one fsync. */
  FI_PREFETCH: z.coerce.number().int().min(1).max(1000).default(32),
  POC_HOME: z.string().optional(),
})

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(fiConfig, env)
  const logger = createLogger('fi', undefined, {buffered: true})
  const journalFile = config.FI_JOURNAL_FILE ?? path.join(config.DATA_DIR, 'fi-journal.jsonl')
  const opened = await FiJournal.open(journalFile)
  const {journal} = opened
  if (opened.skipped > 0) {
    logger.warn(
      {file: journalFile, skipped: opened.skipped},
      'skipped unreadable journal lines (never acknowledged)',
    )
  }
  let model = FiReadModel.replay(opened.entries)
  logger.info(
    {events: journal.size, invoices: model.invoices.size, orders: model.orders.size},
    'read model rebuilt from the journal',
  )
  const projects = new ProjectDirectory({pmUrl: config.PM_URL, logger})

  const base = await startServiceBase('fi', config, {
    logger,
    health: () => ({
      invoices: model.invoices.size,
      orders: model.orders.size,
      journalEvents: journal.size,
      duplicatesSkipped: model.duplicates,
      pmCircuit: projects.breaker.state,
    }),
  })
  const {bus, app} = base

  registerFiRoutes(app, {
    model: () => model,
    rebuild: async () => {
      model = FiReadModel.replay(journal.entries())
      return {events: journal.size, invoices: model.invoices.size, orders: model.orders.size}
    },
    reset: async () => {
      await journal.clear()
      model = new FiReadModel()
    },
    adminToken: await readAdminToken(config.POC_HOME ?? path.resolve(config.DATA_DIR, '..', '..')),
  })

  await bus.declareInbox('fi.inbox', [...fiEventTypes])
  const publish = bus.publish.bind(bus)
  const projectEvent = async (event: Envelope): Promise<HandlerOutcome> => {
    if (model.isDuplicate(event)) {
      model.duplicates++
      logger.info(
        {eventId: event.eventId, type: event.type, key: event.key},
        'skipped an event already projected',
      )
      return 'ack'
    }
    const project =
      event.type === 'fi.invoice.generated'
        ? await projects.lookup(event.payload.projectCode as string | undefined)
        : undefined
    const entry = {event, projectedAt: new Date().toISOString(), project}
    const budget = model.budgetAllocatedBy(event, entry.projectedAt)
    if (budget) {
      // Before the journal: a crash in between redelivers the event, which publishes again
      // under the same idempotency key, instead of a journaled allocation never announced.
      const envelope = makeEnvelope({
        type: orderEvents.budgetAllocated,
        key: budget.orderId,
        payload: budget,
        idempotencyKey: budgetAllocatedKey(budget.orderId),
      })
      await publish({exchange: exchanges.domain, routingKey: orderEvents.budgetAllocated, envelope})
      logger.info(
        {
          orderId: budget.orderId,
          projectId: budget.projectId,
          amount: budget.amount,
          eventId: envelope.eventId,
        },
        `budget allocated for order ${budget.orderId} -> project ${budget.projectId} amount=${budget.amount}`,
      )
    }
    // Applied in journal order right after the fsync; the ack follows.
    const target = model
    await journal.append(entry, () => target.apply(entry))
    return 'ack'
  }
  /** An order's events one at a time, so each sees the one before (the budget joins two of them). */
  const perOrder = new KeyedSerial()
  await bus.consume(
    'fi.inbox',
    async (event) => {
      const invalid = invalidEvent(event)
      if (invalid) {
        logger.warn({eventId: event.eventId, type: event.type}, `${invalid}; dead-lettered`)
        return 'dead'
      }
      if (event.type === 'fi.invoice.generated') return projectEvent(event)
      return perOrder.run(String(event.payload.orderId), () => projectEvent(event))
    },
    {prefetch: config.FI_PREFETCH},
  )
  await base.listen()

  return {
    close: async () => {
      await base.close()
      await journal.close()
    },
  }
}
