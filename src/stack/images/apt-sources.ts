import {readFile} from 'node:fs/promises'

/**
 * Which Debian mirror an image is built from: the host's own apt sources (an air-gapped site
 * points them at its local mirror), in either format apt reads, else deb.debian.org.
 */

export interface AptSource {
  uri: string
  suites: string[]
}

export interface DebianSources {
  /** What debootstrap fetches the base from. */
  mirror: string
  /** What apt inside the image reads: the release, and its -updates and -security when the host has them. */
  sources: AptSource[]
  /** Where they were read: a file, POC_DEBIAN_MIRROR, or "default". */
  from: string
}

export const defaultDebianMirror = 'http://deb.debian.org/debian'
export const hostSourceFiles = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']

const usableUri = /^(https?|file):/

/** Every `deb` entry of a sources file, one-line (`sources.list`) or deb822 (`*.sources`) format. */
export function parseAptSources(text: string): AptSource[] {
  return /^\s*(Types|URIs|Suites)\s*:/im.test(text) ? parseDeb822(text) : parseOneLine(text)
}

function parseOneLine(text: string): AptSource[] {
  const entries: AptSource[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    // deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror/debian bookworm main
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line)
    if (match) entries.push({uri: trimSlash(match[1] as string), suites: [match[2] as string]})
  }
  return entries
}

function parseDeb822(text: string): AptSource[] {
  const entries: AptSource[] = []
  const stanzas = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .split(/\n\s*\n/)
  for (const stanza of stanzas) {
    const fields = new Map<string, string>()
    let last: string | undefined
    for (const line of stanza.split('\n')) {
      const field = /^([A-Za-z-]+)\s*:\s*(.*)$/.exec(line)
      if (field) {
        last = (field[1] as string).toLowerCase()
        fields.set(last, (field[2] as string).trim())
      } else if (last && /^\s+\S/.test(line)) {
        fields.set(last, `${fields.get(last)} ${line.trim()}`)
      }
    }
    const words = (name: string) => (fields.get(name) ?? '').split(/\s+/).filter(Boolean)
    if (!words('types').includes('deb') || fields.get('enabled')?.toLowerCase() === 'no') continue
    for (const uri of words('uris')) entries.push({uri: trimSlash(uri), suites: words('suites')})
  }
  return entries
}

function trimSlash(uri: string): string {
  return uri.replace(/\/+$/, '')
}

/** The host's entries for `suite` (the release itself, -updates, -security), or undefined when it has none. */
export function debianSourcesFor(
  entries: AptSource[],
  suite: string,
  from: string,
): DebianSources | undefined {
  const wanted = new Set([suite, `${suite}-updates`, `${suite}-security`])
  const sources = entries
    .filter((e) => usableUri.test(e.uri))
    .map((e) => ({uri: e.uri, suites: e.suites.filter((s) => wanted.has(s))}))
    .filter((e) => e.suites.length > 0)
  const mirror = sources.find((e) => e.suites.includes(suite))?.uri
  return mirror ? {mirror, sources, from} : undefined
}

export function defaultDebianSources(
  suite: string,
  mirror = defaultDebianMirror,
  from = 'default',
): DebianSources {
  if (mirror !== defaultDebianMirror) return {mirror, sources: [{uri: mirror, suites: [suite]}], from}
  const sources: AptSource[] = [
    {uri: mirror, suites: [suite, `${suite}-updates`]},
    {uri: 'http://deb.debian.org/debian-security', suites: [`${suite}-security`]},
  ]
  return {mirror, sources, from}
}

/** POC_DEBIAN_MIRROR, else the first host file with entries for the suite, else deb.debian.org. */
export async function hostDebianSources(
  suite: string,
  env: NodeJS.ProcessEnv = process.env,
  files = hostSourceFiles,
): Promise<DebianSources> {
  const override = env.POC_DEBIAN_MIRROR?.trim()
  if (override) return defaultDebianSources(suite, trimSlash(override), 'POC_DEBIAN_MIRROR')
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => undefined)
    const found = text === undefined ? undefined : debianSourcesFor(parseAptSources(text), suite, file)
    if (found) return found
  }
  return defaultDebianSources(suite)
}

/** /etc/apt/sources.list inside the image. */
export function renderSourcesList(sources: DebianSources): string {
  return sources.sources.flatMap((e) => e.suites.map((suite) => `deb ${e.uri} ${suite} main\n`)).join('')
}
