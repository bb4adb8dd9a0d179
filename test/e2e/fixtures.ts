import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {test as base, expect, type Page} from '@playwright/test'
import {type PageProblems, watchPage} from '../../src/checks/ui/watch.js'
import {type UiTarget, uiTarget} from './target.js'

const artifacts = process.env.E2E_ARTIFACTS ?? path.resolve('results', 'e2e')

/**
 * Every spec's page is watched: a console error, an uncaught exception, a failed request or an
 * answer of 500+ fails the spec that caused it (after its own assertions), with the list.
 * `allowProblems` marks what a spec provokes on purpose (pm stopped: the UI's requests fail).
 */
export const test = base.extend<{
  stack: UiTarget
  problems: PageProblems
  allowProblems: (pattern: RegExp) => void
  capture: (name: string) => Promise<void>
}>({
  // eslint-disable-next-line no-empty-pattern
  stack: async ({}, use) => use(uiTarget()),
  problems: [
    async ({page}, use) => {
      const problems = watchPage(page)
      await use(problems)
      expect(problems.unexpected(), 'console errors, page errors or failed requests').toEqual([])
    },
    {auto: true},
  ],
  allowProblems: async ({problems}, use) => use((pattern) => problems.allow(pattern)),
  capture: async ({page}, use) =>
    use(async (name) => {
      const dir = path.join(artifacts, 'screenshots')
      mkdirSync(dir, {recursive: true})
      await page.screenshot({path: path.join(dir, `${name}.png`), fullPage: true})
    }),
})

export {expect}

/** Appends one measurement to results/e2e/timings.json (read by the note and the README). */
export function recordTiming(name: string, ms: number): void {
  const file = path.join(artifacts, 'timings.jsonl')
  mkdirSync(artifacts, {recursive: true})
  writeFileSync(file, `${JSON.stringify({name, ms: Math.round(ms)})}\n`, {flag: 'a'})
}

export type {Page}
