#!/usr/bin/env node
// Part of npm run build: brotli and gzip copies of the built web UI's text files beside them
// (dist/ui), which the ui server sends to browsers that accept them (@fastify/static
// preCompressed), so a page load moves a third of the bytes and nothing compresses per request.
import {readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {brotliCompressSync, constants, gzipSync} from 'node:zlib'

const root = path.resolve(import.meta.dirname, '..', 'dist', 'ui')
const compressible = /\.(js|css|html|svg|json)$/

let files = 0
let before = 0
let after = 0
for (const entry of await readdir(root, {recursive: true, withFileTypes: true})) {
  if (!entry.isFile() || !compressible.test(entry.name)) continue
  const file = path.join(entry.parentPath, entry.name)
  const data = await readFile(file)
  const br = brotliCompressSync(data, {params: {[constants.BROTLI_PARAM_QUALITY]: 11}})
  await writeFile(`${file}.br`, br)
  await writeFile(`${file}.gz`, gzipSync(data, {level: 9}))
  files++
  before += data.length
  after += br.length
}
console.log(
  `web UI: ${files} files, ${Math.round(before / 1024)} KiB, ${Math.round(after / 1024)} KiB with brotli`,
)
