import {randomBytes} from 'node:crypto'
import {open, rename, unlink} from 'node:fs/promises'
import path from 'node:path'

/**
 * Replace a file so that a crash at any moment leaves either the old or the new content:
 * write a temp file beside it, fsync it, rename over the target, fsync the directory.
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  )
  const handle = await open(temp, 'w', 0o644)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, file)
  } catch (error) {
    await unlink(temp).catch(() => undefined)
    throw error
  }
  await syncPath(path.dirname(file))
}

/** fsync a file or a directory: after a rename or a link, the directory's, so the new name survives a crash. */
export async function syncPath(file: string): Promise<void> {
  const handle = await open(file, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
