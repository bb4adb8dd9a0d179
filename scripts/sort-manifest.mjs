#!/usr/bin/env node
// `oclif manifest` lists commands in the order it finds their files, which differs from run to
// run; sorted, the committed manifest changes only when a command does (a test compares them).
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

const file = path.resolve(import.meta.dirname, '..', 'oclif.manifest.json')
const manifest = JSON.parse(readFileSync(file, 'utf8'))
manifest.commands = Object.fromEntries(
  Object.keys(manifest.commands)
    .sort()
    .map((id) => [id, manifest.commands[id]]),
)
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
