import type Docker from 'dockerode'
import type {LocalImageName} from '../catalog.js'

// Placeholder until the images branch lands: the real builder makes localhost/poc/<component>:<hash>.
export async function ensureLocalImage(
  _docker: Docker,
  component: LocalImageName,
  _options: {progress?: (line: string) => void; signal?: AbortSignal} = {},
): Promise<{tag: string; built: boolean; durationMs: number; sizeBytes: number}> {
  throw new Error(`no local image builder yet for ${component}`)
}
