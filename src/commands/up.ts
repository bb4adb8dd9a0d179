import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../cli/base-command.js'
import {durationFlag, parseComponentList, portOffsetFlag} from '../cli/flags.js'
import {progressView} from '../cli/progress.js'
import {componentTable} from '../cli/render.js'
import {type Group, selectComponents} from '../stack/catalog.js'
import {formatDuration} from '../stack/clock.js'
import {type UpResult, up} from '../stack/stack.js'

export default class Up extends PocCommand {
  static description = `Starts the components in dependency order (independent ones in parallel), waits for each to be ready, and prints where they listen. Healthy components are left alone, so running it again changes nothing. Processes are detached and outlive this command; poc status, logs and down find them through $POC_HOME (default .poc/). On a failure it prints the failing component's last log lines and stops what it started; Ctrl+C does the same.

Runtimes (--runtime, env POC_RUNTIME): auto picks docker if its engine answers, else podman if its socket or binary is there (poc starts podman's API service itself), else native. Under docker and podman the infrastructure runs in containers named poc-<offset>-<component> on the network poc-<offset>, ports published on 127.0.0.1; an official image that cannot be pulled is replaced by poc's local image (poc images build). A running stack keeps its runtime.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Bring up the default set.'},
    {
      command: '<%= config.bin %> <%= command.id %> --only rabbitmq,redis',
      description: 'Only the broker and Redis.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --port-offset 1000',
      description: 'A second stack on shifted ports (5672 becomes 6672, …).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --runtime podman',
      description:
        "Infrastructure in podman containers (official images, or poc's local ones when they cannot be pulled).",
    },
    {
      command: '<%= config.bin %> <%= command.id %> --runtime podman --services-in-containers --offline',
      description: 'Everything in containers, from local images only.',
    },
  ]

  static flags = {
    offline: Flags.boolean({
      description:
        "docker/podman: never pull; run poc's local images (built from Debian packages when missing, see poc images build).",
    }),
    only: Flags.string({
      description: 'Start only these components (comma-separated), with what they depend on.',
      multiple: true,
    }),
    'port-offset': portOffsetFlag,
    runtime: Flags.string({
      default: 'auto',
      description: 'Where infrastructure runs: auto picks docker, then podman, then native.',
      env: 'POC_RUNTIME',
      options: ['auto', 'native', 'docker', 'podman'],
    }),
    'services-in-containers': Flags.boolean({
      allowNo: true,
      description:
        'docker/podman: run our services from the image built from this repo too, on the stack network (default: host processes).',
    }),
    timeout: durationFlag({
      description: 'How long each component may take to become ready (default 60s; RabbitMQ 90s).',
    }),
    with: Flags.string({
      description: 'Optional component groups to add to the default set.',
      multiple: true,
      delimiter: ',',
      options: ['minio', 'observability'],
    }),
  }

  static summary = 'Bring the stack up.'

  async run(): Promise<UpResult> {
    const {flags} = await this.parse(Up)
    const only = parseComponentList(flags.only)
    const groups = (flags.with ?? []) as Group[]
    const interruption = this.interruption()
    const view = progressView({
      json: this.jsonEnabled(),
      components: selectComponents({only, with: groups}),
      log: (line) => this.log(line),
    })
    try {
      const result = await view.run((progress) =>
        up(
          {
            only,
            with: groups,
            runtime: flags.runtime as 'auto',
            portOffset: flags['port-offset'],
            timeoutMs: flags.timeout,
            servicesInContainers: flags['services-in-containers'],
            offline: flags.offline,
          },
          {home: this.home, signal: interruption.signal, progress},
        ),
      )
      this.render(result)
      return result
    } finally {
      interruption.dispose()
    }
  }

  private render(result: UpResult): void {
    for (const warning of result.warnings) this.warn(warning)
    const started = result.components.filter((c) => c.action === 'started' || c.action === 'restarted')
    const unchanged = result.components.filter((c) => c.action === 'unchanged')
    this.say()
    for (const line of componentTable(result.components, {showUnavailable: true, time: 'ready'}))
      this.say(line)
    this.say()
    if (started.length === 0 && unchanged.length > 0) {
      this.say(`Nothing to do: ${unchanged.map((c) => c.name).join(', ')} already running.`)
    } else {
      this.say(
        `Started ${started.map((c) => c.name).join(', ') || 'nothing'} in ${formatDuration(result.durationMs)}` +
          (unchanged.length > 0 ? `; ${unchanged.map((c) => c.name).join(', ')} already running.` : '.'),
      )
    }
    const skipped = result.components.filter((c) => c.state === 'unavailable')
    if (skipped.length > 0)
      this.say(`Not started: ${skipped.map((c) => `${c.name} (${c.reason})`).join('; ')}.`)
    this.say(
      `Runtime: ${result.runtime}${result.servicesInContainers ? ' (services in containers)' : ''}  ·  state: ${result.home}`,
    )
    this.say('Next: poc smoke  ·  poc status  ·  poc logs -f  ·  poc down')
  }
}
