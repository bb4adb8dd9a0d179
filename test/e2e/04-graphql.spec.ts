import {openUiPage} from '../../src/checks/ui/flow.js'
import {expect, test} from './fixtures.js'

// GraphQL's metricsSummary through the UI's own origin equals the summary the stream opens with
// (the seed's live spec compares them too): one summary, two ways of reading it.
test('GraphQL metricsSummary equals the first summary of /metrics/stream', async ({page, stack}) => {
  await openUiPage(page, stack.uiUrl, 'overview')
  const both = await page.evaluate(async () => {
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({
        query:
          'query MetricsSummary($refresh: Boolean) { metricsSummary(refresh: $refresh) { events projects timesheets invoices cachedAt stale } }',
        variables: {refresh: true},
      }),
    })
    const graphql = (await response.json()) as {
      data?: {metricsSummary?: Record<string, unknown>}
      errors?: unknown
    }
    const stream = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const source = new EventSource('/metrics/stream')
      const timer = setTimeout(() => {
        source.close()
        reject(new Error('no summary on /metrics/stream within 5 s'))
      }, 5000)
      source.onmessage = (event) => {
        clearTimeout(timer)
        source.close()
        resolve(JSON.parse(event.data as string) as Record<string, unknown>)
      }
    })
    return {status: response.status, graphql, stream}
  })
  expect(both.status).toBe(200)
  expect(both.graphql.errors).toBeFalsy()
  const summary = both.graphql.data?.metricsSummary as Record<string, unknown>
  for (const field of ['events', 'projects', 'timesheets', 'invoices', 'cachedAt']) {
    expect(summary[field], field).toEqual(both.stream[field])
  }
})

test('a bad GraphQL query is a 400 with GraphQL errors, not a 500', async ({request, stack}) => {
  const response = await request.post(`${stack.uiUrl}/graphql`, {
    data: {query: '{ metricsSummary { nope } }'},
  })
  expect(response.status()).toBe(400)
  const body = (await response.json()) as {errors?: Array<{message: string}>}
  expect(body.errors?.[0]?.message).toMatch(/nope/)
})
