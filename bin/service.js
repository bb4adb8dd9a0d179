#!/usr/bin/env node
// node bin/service.js <name>: starts one of our services in the foreground, as poc up and the
// services image do, without loading the CLI (oclif). `poc service run <name>` does the same.
// SIGTERM or SIGINT closes it gracefully; a start that fails exits 1 (2 for an unknown name).
// It runs the services' bundle (scripts/bundle-services.mjs, part of npm run build): the same
// code as dist/services/, in a few files, which starts with ~40 % less CPU.
import {UnknownServiceError, runService, serviceNames} from '../dist/services-bundle/run-service.js'

try {
  await runService(process.argv[2])
} catch (error) {
  const unknown = error instanceof UnknownServiceError
  process.stderr.write(`poc service: ${error instanceof Error ? error.message : String(error)}\n`)
  if (unknown) process.stderr.write(`Services available: ${serviceNames.join(', ')}\n`)
  else if (process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  // A half-started service (a bus retrying, a timer) would keep the process alive.
  process.exit(unknown ? 2 : 1)
}
