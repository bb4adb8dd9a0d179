import {open} from 'node:fs/promises'

/** The last `count` lines of a file, read backwards in chunks so a large log costs little. */
export async function lastLines(file: string, count: number): Promise<string[]> {
  if (count <= 0) return []
  let handle
  try {
    handle = await open(file, 'r')
  } catch {
    return []
  }
  try {
    const {size} = await handle.stat()
    const chunkSize = 64 * 1024
    let position = size
    let text = ''
    while (position > 0) {
      const length = Math.min(chunkSize, position)
      position -= length
      const buffer = Buffer.alloc(length)
      await handle.read(buffer, 0, length, position)
      text = buffer.toString('utf8') + text
      if (text.split('\n').length > count + 1) break
    }
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    return lines.slice(-count)
  } finally {
    await handle.close()
  }
}
