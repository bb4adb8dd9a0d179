import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {searchSample, type InvoiceQuery} from '../../src/services/ui/app/src/features/compliance/api'
import {toInvoice} from '../../src/services/ui/app/src/features/compliance/types'
import {toProject, transitions} from '../../src/services/ui/app/src/features/projects/types'
import {relatedLinks} from '../../src/services/ui/app/src/features/telemetry/links'
import {toTimesheet} from '../../src/services/ui/app/src/features/timesheets/types'
import {queryString} from '../../src/services/ui/app/src/lib/filters'
import {isPage} from '../../src/services/ui/static.js'

// The web UI's pure parts (the app is typechecked by src/services/ui/app/tsconfig*.json, not here).
describe('the web UI reads pm with the seed’s field names and today’s', () => {
  it('maps a project from either set of names, the seed’s first', () => {
    const today = toProject({id: 'PRJ-1', projectCode: 'DX-1', projectName: 'DX', status: 'onhold'})
    assert.deepEqual(today, {id: 'PRJ-1', code: 'DX-1', name: 'DX', status: 'onhold', tags: []})
    const seed = toProject({
      id: 'PRJ-2',
      code: 'NEW',
      projectCode: 'OLD',
      name: 'New name',
      status: 'closed',
      cancelledAt: '2025-01-01T00:00:00Z',
      manager: '佐藤',
      health: 'yellow',
      tags: ['data', null],
      startOn: '2025-01-15',
    })
    assert.equal(seed.code, 'NEW')
    assert.equal(seed.status, 'cancelled', 'a closed project with cancelledAt was cancelled')
    assert.deepEqual(seed.tags, ['data'])
    assert.equal(toProject({id: 'x', status: 'bogus'}).status, 'planned')
    assert.deepEqual(transitions.closed, [])
  })

  it('maps a timesheet: approvalStatus over status, projectName falling back to the code', () => {
    const entry = toTimesheet({
      id: 'TS-1',
      userName: 'sato',
      projectCode: 'DX',
      hours: 7.5,
      workDate: '2025-09-01',
      status: 'submitted',
    })
    assert.equal(entry.approvalStatus, 'submitted')
    assert.equal(entry.projectName, 'DX')
    assert.equal(
      toTimesheet({id: 'TS-2', approvalStatus: 'approved', status: 'draft'}).approvalStatus,
      'approved',
    )
  })

  it('maps today’s generated invoice onto the seed’s columns', () => {
    const invoice = toInvoice({
      invoiceId: 'INV-TS-1',
      timesheetId: 'TS-1',
      projectCode: 'DX',
      amount: 60000,
      status: 'draft',
      createdAt: '2025-09-02T10:00:00Z',
    })
    assert.equal(invoice.invoiceNumber, 'INV-TS-1')
    assert.equal(invoice.issueDate, '2025-09-02')
    assert.equal(invoice.counterpartyName, 'DX')
    assert.equal(invoice.amountIncludingTax, 60000)
    assert.deepEqual(invoice.attachments, [])
  })
})

describe('the sample invoices behave as pm’s search would', () => {
  const query: InvoiceQuery = {
    keyword: '',
    status: 'all',
    startDate: '',
    endDate: '',
    minAmount: '',
    maxAmount: '',
    page: 1,
    pageSize: 10,
    sortBy: 'issueDate',
    sortDir: 'desc',
  }

  it('sorts by amount both ways (the seed’s spec: Laptop first descending, electricity first ascending)', () => {
    assert.equal(searchSample({...query, sortBy: 'amount'}).items[0]?.subject, 'Laptop refresh program')
    assert.equal(
      searchSample({...query, sortBy: 'amount', sortDir: 'asc'}).items[0]?.subject,
      '9月分電力使用料',
    )
  })

  it('filters by keyword, status and amount, and pages', () => {
    assert.deepEqual(
      searchSample({...query, keyword: 'aws'}).items.map((i) => i.id),
      ['inv-2024-0001'],
    )
    assert.equal(searchSample({...query, status: 'flagged'}).total, 1)
    assert.equal(searchSample({...query, minAmount: '200000', maxAmount: '600000'}).total, 1)
    const paged = searchSample({...query, pageSize: 2, page: 2})
    assert.deepEqual([paged.items.length, paged.total, paged.totalPages, paged.page], [1, 3, 2, 2])
    assert.equal(searchSample({...query, pageSize: 2, page: 9}).page, 2, 'a page past the end is the last')
  })
})

describe('the web UI’s helpers', () => {
  it('finds Projects and Slack links in a telemetry detail', () => {
    const links = relatedLinks({
      shareUrl: 'https://app.example.com/projects?status=active',
      slackMemo: 'posted to https://slack.com/app_redirect?channel=proj-updates',
      nested: [{other: 'https://example.com/timesheets'}],
    })
    assert.deepEqual(links.projects, ['https://app.example.com/projects?status=active'])
    assert.deepEqual(links.slack, [
      {href: 'https://slack.com/app_redirect?channel=proj-updates', label: 'Slack #proj-updates'},
    ])
    assert.deepEqual(relatedLinks(undefined), {projects: [], slack: []})
  })

  it('builds query strings without empty values or `all`', () => {
    assert.equal(
      queryString({status: 'all', keyword: '', first: 24, after: undefined, tag: 'a b'}),
      '?first=24&tag=a+b',
    )
    assert.equal(queryString({}), '')
  })

  it('serves index.html for the app’s pages only, never for pm’s routes or a missing file', () => {
    for (const page of ['/', '/projects', '/timesheets/', '/no/such/page', '/compliance'])
      assert.equal(isPage(page), true, page)
    for (const other of [
      '/api/v1/x',
      '/api',
      '/admin',
      '/admin/reset',
      '/graphql',
      '/metrics',
      '/metrics/x',
      '/events/recent',
      '/health/x',
      '/assets/x.js',
      '/favicon.ico',
      '/projects/report.pdf',
    ])
      assert.equal(isPage(other), false, other)
  })
})
