/**
 * `node log-follower.js <address-json> <container-id>`: copies a container's output, from its
 * start, to stdout until the container's log stream ends. The engine runtime starts one per
 * container with stdout on `$POC_HOME/logs/<component>.log`, so `poc logs -f` reads containers
 * exactly as it reads native processes.
 */
import Docker from 'dockerode'

const [addressText, containerId] = process.argv.slice(2)
if (!addressText || !containerId) {
  process.stderr.write('usage: log-follower.js <address-json> <container-id>\n')
  process.exit(2)
}
const address = JSON.parse(addressText) as {socketPath?: string; host?: string; port?: number}
const docker = address.socketPath
  ? new Docker({socketPath: address.socketPath})
  : new Docker({host: address.host, port: address.port, protocol: 'http'})
process.once('SIGTERM', () => process.exit(0))

try {
  const container = docker.getContainer(containerId)
  const info = await container.inspect()
  const stream = (await container.logs({follow: true, stdout: true, stderr: true})) as NodeJS.ReadableStream
  if (info.Config.Tty) stream.pipe(process.stdout)
  else docker.modem.demuxStream(stream, process.stdout, process.stdout)
  stream.on('end', () => process.exit(0))
  stream.on('error', (error) => {
    process.stdout.write(`[poc] the log stream of ${containerId.slice(0, 12)} broke: ${String(error)}\n`)
    process.exit(1)
  })
} catch (error) {
  process.stdout.write(`[poc] cannot follow the logs of ${containerId.slice(0, 12)}: ${String(error)}\n`)
  process.exit(1)
}
