import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The folder holding package.json, whether this file runs from src/ (tsx) or dist/ (built). */
export const packageRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)))

function findRoot(start: string): string {
  let dir = start
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json above ${start}`)
    dir = parent
  }
  return dir
}
