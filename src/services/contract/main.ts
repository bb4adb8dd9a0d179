import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {z} from 'zod'
import {packageRoot} from '../../lib/package-root.js'
import type {RunningService, ServiceMain} from '../registry.js'
import {exchanges} from '../../contract/topology.js'
import {baseConfig, parseConfig} from '../shared/config.js'
import {makeEnvelope} from '../../contract/envelope.js'
import {assertAdmin} from '../shared/http.js'
import {parseInput} from '../shared/input.js'
import {createLogger} from '../shared/logger.js'
import {startServiceBase} from '../shared/service-base.js'
import {readAdminToken} from '../../contract/files.js'
import {StateFile} from '../shared/state-file.js'
import {
  asContractState,
  checkRenewal,
  type ContractState,
  dueForReminder,
  renew,
  renewInput,
  toDay,
  triggerInput,
  upsertContract,
} from './domain.js'

export const reminderType = 'ckm.contract.renewal.reminder'
export const renewedType = 'ckm.contract.renewed'

const contractConfig = baseConfig.extend({
  CONTRACT_STATE_FILE: z.string().optional(),
  CONTRACT_SEED_FILE: z.string().default(path.join(packageRoot, 'fixtures', 'contract', 'seed.json')),
  POC_HOME: z.string().optional(),
})

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(contractConfig, env)
  const logger = createLogger('contract')
  const seed = async (): Promise<ContractState> => {
    const state = asContractState(JSON.parse(await readFile(config.CONTRACT_SEED_FILE, 'utf8')))
    if (!state) throw new Error(`seed file ${config.CONTRACT_SEED_FILE} has no contracts list`)
    const at = new Date().toISOString()
    return {contracts: state.contracts.map((c) => ({...c, createdAt: at, updatedAt: at}))}
  }
  const store = await StateFile.open<ContractState>({
    file: config.CONTRACT_STATE_FILE ?? path.join(config.DATA_DIR, 'contracts.json'),
    label: 'contract state',
    validate: asContractState,
    initial: seed,
    logger,
  })
  const adminToken = await readAdminToken(config.POC_HOME ?? path.resolve(config.DATA_DIR, '..', '..'))
  const base = await startServiceBase('contract', config, {
    logger,
    health: () => ({contracts: store.current.contracts.length}),
  })
  const {app, bus} = base
  const publish = async (type: string, contractId: string, payload: Record<string, unknown>) => {
    const envelope = makeEnvelope({type, key: contractId, payload: {contractId, ...payload}})
    await bus.publish({exchange: exchanges.domain, routingKey: type, envelope})
    return envelope.eventId
  }

  app.get('/contracts', async () => ({items: store.current.contracts, total: store.current.contracts.length}))

  app.post('/contracts', async (request, reply) => {
    const {item, created} = await store.mutate((state) => upsertContract(state, request.body, new Date()))
    reply.code(created ? 201 : 200)
    return {ok: true, item, created}
  })

  app.post('/contracts/reminders/trigger', async (request) => {
    const {days} = parseInput(triggerInput, request.body)
    const today = toDay(new Date())
    const events = []
    for (const contract of dueForReminder(store.current.contracts, today, days)) {
      const eventId = await publish(reminderType, contract.contractId, {
        customerId: contract.customerId,
        renewalDate: contract.renewalDate,
        amount: contract.amount,
        days,
      })
      events.push({contractId: contract.contractId, renewalDate: contract.renewalDate, eventId})
    }
    return {ok: true, days, today, triggered: events.length, events}
  })

  app.post<{Params: {id: string}}>('/contracts/:id/renew', async (request) => {
    const {newDate} = parseInput(renewInput, request.body)
    const id = request.params.id
    const before = checkRenewal(store.current as ContractState, id, newDate)
    const eventId = await publish(renewedType, id, {
      customerId: before.customerId,
      previousRenewalDate: before.renewalDate,
      newRenewalDate: newDate,
      amount: before.amount,
    })
    const item = await store.mutate((state) => renew(state, id, newDate, new Date()))
    return {ok: true, item, eventId}
  })

  app.post('/admin/reset', async (request) => {
    assertAdmin(request, adminToken)
    await store.replace(await seed())
    return {ok: true, reset: true}
  })

  await base.listen()
  return base
}
