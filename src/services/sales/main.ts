import type {RunningService, ServiceMain} from '../registry.js'
import {baseConfig, parseConfig} from '../shared/config.js'
import {startServiceBase} from '../shared/service-base.js'
import {registerSalesRoutes} from './routes.js'

export const main: ServiceMain = async (env): Promise<RunningService> => {
  const config = parseConfig(baseConfig, env)
  const base = await startServiceBase('sales', config)
  registerSalesRoutes(base.app, {
    publish: (request) => base.bus.publish(request),
    numShards: config.NUM_SHARDS,
  })
  await base.listen()
  return base
}
