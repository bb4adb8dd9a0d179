import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {Plugin} from '@oclif/core'
import {repoRoot} from '../helpers.js'

type Manifest = {commands: Record<string, unknown>}

/** The manifest the current build would write (dist/ must be built: npm test builds first). */
async function freshManifest(): Promise<Manifest> {
  const plugin = new Plugin({root: repoRoot, type: 'core', ignoreManifest: true, errorOnManifestCreate: true})
  await plugin.load()
  return {commands: JSON.parse(JSON.stringify(plugin.manifest.commands)) as Record<string, unknown>}
}

function committedManifest(): Manifest | undefined {
  try {
    const text = execFileSync('git', ['show', 'HEAD:oclif.manifest.json'], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: 'pipe',
    })
    return JSON.parse(text) as Manifest
  } catch {
    return undefined
  }
}

describe('oclif.manifest.json', () => {
  it('matches the commands of the current build', async () => {
    const onDisk = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as Manifest
    assert.deepEqual(onDisk.commands, (await freshManifest()).commands, 'stale: run npm run build')
  })

  it('is committed as built, so a clean clone gets a manifest that fits its commands', async (t) => {
    const committed = committedManifest()
    if (!committed) {
      t.skip('not in a git checkout with a committed manifest')
      return
    }
    assert.deepEqual(
      committed.commands,
      (await freshManifest()).commands,
      'stale in git: run npm run build and commit oclif.manifest.json',
    )
  })
})
