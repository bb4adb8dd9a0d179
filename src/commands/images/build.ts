import {Args, Flags} from '@oclif/core'
import {PocCommand, exitCodesHelp} from '../../cli/base-command.js'
import {splitList} from '../../cli/flags.js'
import {renderTable} from '../../cli/table.js'
import {formatDuration} from '../../stack/clock.js'
import {type EngineRuntimeName, describeAddress} from '../../stack/engine/connect.js'
import {resolveImageCache} from '../../stack/images/cache.js'
import {
  type EnsuredLocalImage,
  ensureLocalImage,
  formatMegabytes,
  imageRuntimeRequest,
  withImageEngine,
} from '../../stack/images/local-images.js'
import {localImageComponents, parseLocalImageComponents} from '../../stack/images/recipes.js'

export interface ImagesBuildResult {
  runtime: EngineRuntimeName
  engine: string
  cacheDir: string
  images: EnsuredLocalImage[]
}

export default class ImagesBuild extends PocCommand {
  static args = {
    components: Args.string({
      description: `Images to build: ${localImageComponents.join(', ')} (default: all of them).`,
    }),
  }

  static description = `Builds local images of poc's components from Debian packages, for machines where no registry answers: a minimal Debian base made once with debootstrap (~1 min), then per image apt-get in a chroot, imported into the engine as localhost/poc/<component>:<recipe hash>. Images and their archives are cached ($XDG_CACHE_HOME/poc or ~/.cache/poc), so running it again takes seconds; an image whose recipe (or, for services, dist/ or the lockfile) changed gets a new tag. Building needs root (debootstrap, chroot); importing a cached archive does not. The services image needs a built dist/ (npm run build). Debian packages come from the host's apt mirror.

${exitCodesHelp}
  130  interrupted (Ctrl+C); nothing half-built is kept`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'All four images, into podman if it is here.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> redis rabbitmq --runtime docker',
      description: 'Two of them, into docker.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> services --rebuild',
      description: 'Build the services image again even though its tag exists.',
    },
  ]

  static flags = {
    rebuild: Flags.boolean({
      description:
        'Build again even when the engine or the cache has the image (the Debian base is reused; prune --all drops it).',
    }),
    runtime: Flags.string({
      description:
        'The engine to build into; default POC_RUNTIME when it is docker or podman, else podman if it is here, else docker.',
      options: ['auto', 'docker', 'podman'],
    }),
  }

  static strict = false

  static summary = 'Build local images of the components from Debian packages (no registry needed).'

  async run(): Promise<ImagesBuildResult> {
    const {argv, flags} = await this.parse(ImagesBuild)
    const components = parseLocalImageComponents(splitList(argv as string[]) ?? [])
    const interruption = this.interruption()
    try {
      const result = await withImageEngine(imageRuntimeRequest(flags.runtime), this.home, async (engine) => {
        const images: EnsuredLocalImage[] = []
        for (const component of components) {
          images.push(
            await ensureLocalImage(engine.docker, component, {
              rebuild: flags.rebuild,
              signal: interruption.signal,
              // On stderr: stdout carries the result (and nothing else with --json).
              progress: (line) => {
                if (!this.jsonEnabled()) this.logToStderr(`${component}: ${line}`)
              },
            }),
          )
        }
        return {
          runtime: engine.runtime,
          engine: describeAddress(engine.address),
          cacheDir: resolveImageCache().root,
          images,
        }
      })
      this.say(`Local images in ${result.runtime} (${result.engine}), cached in ${result.cacheDir}`)
      this.say()
      const source = {engine: 'already there', cache: 'imported from cache', built: 'built'}
      const rows = result.images.map((i) => [
        i.component,
        i.tag,
        source[i.source],
        formatDuration(i.durationMs),
        formatMegabytes(i.sizeBytes),
      ])
      for (const line of renderTable(['COMPONENT', 'TAG', 'HOW', 'TIME', 'SIZE'], rows)) this.say(line)
      return result
    } finally {
      interruption.dispose()
    }
  }
}
