/** Links found in an event's detail: a Projects page URL and Slack channels (the seed's related links). */
export interface RelatedLinks {
  projects: string[]
  slack: Array<{href: string; label: string}>
}

const urlPattern = /(https?:\/\/[^\s"'<>]+|slack:\/\/[^\s"'<>]+)/g

export function strings(root: unknown): string[] {
  const found: string[] = []
  const pending: unknown[] = [root]
  const seen = new Set<unknown>()
  while (pending.length > 0) {
    const value = pending.pop()
    if (typeof value === 'string') found.push(value)
    else if (value && typeof value === 'object' && !seen.has(value)) {
      seen.add(value)
      pending.push(...(Array.isArray(value) ? value : Object.values(value)))
    }
  }
  return found
}

export function relatedLinks(detail: unknown): RelatedLinks {
  const urls = strings(detail).flatMap((s) => s.match(urlPattern) ?? [])
  const projects = urls.filter((u) => /^https?:/.test(u) && /\/projects\b/i.test(new URL(u).pathname))
  const slack = urls
    .filter((u) => /^slack:/.test(u) || /(^|\.)slack\.com$/i.test(safeHost(u)))
    .map((href) => ({href, label: slackLabel(href)}))
  return {projects: [...new Set(projects)], slack}
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname
  } catch {
    return ''
  }
}

function slackLabel(href: string): string {
  try {
    const url = new URL(href)
    const channel = url.searchParams.get('channel')
    if (channel) return `Slack #${channel}`
    const last = url.pathname.split('/').filter(Boolean).pop()
    return last ? `Slack ${last}` : 'Slack'
  } catch {
    return 'Slack'
  }
}
