import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {renderTable} from '../../cli/table.js'
import {type EngineRuntimeName, describeAddress} from '../../stack/engine/connect.js'
import {
  type LocalImageList,
  formatMegabytes,
  imageRuntimeRequest,
  listLocalImages,
  withImageEngine,
} from '../../stack/images/local-images.js'

export interface ImagesListResult extends LocalImageList {
  runtime: EngineRuntimeName
  engine: string
}

export default class ImagesList extends PocCommand {
  static description = `Shows, for each component with a local image recipe, the tag today's recipe gives, whether the engine has it and whether its archive is cached; then every localhost/poc image in the engine, older ones included (poc images prune removes those).

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'What is built, and what is stale.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'The same as JSON, for scripts.'},
  ]

  static flags = {
    runtime: Flags.string({
      description:
        'The engine to look in; default POC_RUNTIME when it is docker or podman, else podman if it is here, else docker.',
      options: ['auto', 'docker', 'podman'],
    }),
  }

  static summary = "List poc's local images and whether each is current."

  async run(): Promise<ImagesListResult> {
    const {flags} = await this.parse(ImagesList)
    const result = await withImageEngine(imageRuntimeRequest(flags.runtime), this.home, async (engine) => ({
      runtime: engine.runtime,
      engine: describeAddress(engine.address),
      ...(await listLocalImages(engine.docker)),
    }))
    const yesNo = (value: boolean) => (value ? 'yes' : 'no')
    this.say(`Local images in ${result.runtime} (${result.engine}), cached in ${result.cacheDir}`)
    this.say()
    const current = result.components.map((c) => [
      c.component,
      c.tag ?? '-',
      c.tag ? yesNo(c.inEngine) : '-',
      c.tag ? yesNo(c.cached) : '-',
    ])
    for (const line of renderTable(['COMPONENT', 'CURRENT TAG', 'IN ENGINE', 'CACHED'], current))
      this.say(line)
    for (const c of result.components) if (c.note) this.say(`${c.component}: ${c.note}`)
    const missing = result.components.filter((c) => c.tag && !c.inEngine).map((c) => c.component)
    if (missing.length > 0) this.say(`\nBuild what is missing with: poc images build ${missing.join(' ')}`)
    if (result.images.length === 0) return result
    this.say()
    const rows = result.images.map((i) => [
      i.tag,
      i.current === undefined ? '?' : i.current ? 'current' : 'stale',
      formatMegabytes(i.sizeBytes),
      i.createdAt,
    ])
    for (const line of renderTable(['IMAGE', 'STATE', 'SIZE', 'CREATED'], rows)) this.say(line)
    return result
  }
}
