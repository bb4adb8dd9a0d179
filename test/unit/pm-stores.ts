import path from 'node:path'
import {PmStore} from '../../src/services/pm/store.js'
import {TelemetryStore} from '../../src/services/pm/telemetry.js'
import type {Logger} from '../../src/services/shared/logger.js'

/** pm's store and telemetry log in `dir`, as the in-process pm servers of these unit tests use them. */
export async function pmStores(
  dir: string,
  seedFile: string,
  logger: Logger,
): Promise<{store: PmStore; telemetry: TelemetryStore}> {
  return {
    store: await PmStore.open(path.join(dir, 'pm.json'), seedFile, logger),
    telemetry: new TelemetryStore({
      logPath: path.join(dir, 'telemetry.log'),
      maxLogBytes: 1e6,
      maxArchives: 3,
    }),
  }
}
