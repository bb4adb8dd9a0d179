import {Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {type EngineRuntimeName, describeAddress} from '../../stack/engine/connect.js'
import {
  type PruneLocalImagesResult,
  formatMegabytes,
  imageRuntimeRequest,
  pruneLocalImages,
  withImageEngine,
} from '../../stack/images/local-images.js'

export interface ImagesPruneResult extends PruneLocalImagesResult {
  runtime: EngineRuntimeName
  engine: string
}

export default class ImagesPrune extends PocCommand {
  static description = `Removes the localhost/poc images and cached archives that today's recipes no longer give (an older dist/, a changed recipe). With --all it removes every poc local image and the whole cache, the debootstrapped base included, so the next build starts from scratch. An image a container still uses is kept and named. Removing what is already gone is success.

${exitCodesHelp}`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Drop stale images and archives.'},
    {
      command: '<%= config.bin %> <%= command.id %> --all',
      description: 'Drop every local image and the cache.',
    },
  ]

  static flags = {
    all: Flags.boolean({description: 'Remove every poc local image and the whole image cache.'}),
    runtime: Flags.string({
      description:
        'The engine to prune; default POC_RUNTIME when it is docker or podman, else podman if it is here, else docker.',
      options: ['auto', 'docker', 'podman'],
    }),
  }

  static summary = 'Remove stale local images and cached archives (--all: every one, and the cache).'

  async run(): Promise<ImagesPruneResult> {
    const {flags} = await this.parse(ImagesPrune)
    const result = await withImageEngine(imageRuntimeRequest(flags.runtime), this.home, async (engine) => ({
      runtime: engine.runtime,
      engine: describeAddress(engine.address),
      ...(await pruneLocalImages(engine.docker, {all: flags.all})),
    }))
    const nothing = result.removed.length === 0 && result.removedArchives.length === 0 && !result.cacheRemoved
    if (nothing) this.say(`Nothing to prune in ${result.runtime} (${result.engine}) or ${result.cacheDir}.`)
    for (const tag of result.removed) this.say(`removed ${tag}`)
    for (const file of result.removedArchives) this.say(`removed ${file}`)
    if (result.cacheRemoved) this.say(`removed the image cache ${result.cacheDir}`)
    for (const kept of result.kept) this.say(`kept ${kept.tag}: ${kept.reason}`)
    if (!nothing) this.say(`Freed about ${formatMegabytes(result.freedBytes)}.`)
    return result
  }
}
