import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {
  type PmState,
  applyTimesheetAction,
  createProject,
  createTimesheet,
  deleteTimesheet,
  linkInvoice,
  normalizeState,
  projectAction,
} from '../../src/services/pm/domain.js'
import {invoiceQuery, listInvoices, normalizeInvoice} from '../../src/services/pm/invoices.js'

const now = new Date('2026-11-23T00:00:00Z')
const empty = (): PmState => ({projects: [], timesheets: [], invoices: [], events: [], projectRequests: {}})

function withProject(status = 'active'): PmState {
  const state = empty()
  createProject(state, {projectCode: 'DX-1', projectName: 'Demo', status}, undefined, now)
  return state
}

describe('pm projects', () => {
  it('creates, replays the same Idempotency-Key, and refuses a duplicate code with 409', () => {
    const state = empty()
    const first = createProject(state, {projectCode: 'DX-1', name: 'Demo'}, 'key-1', now)
    assert.deepEqual([first.item.id, first.item.status, first.idempotent], ['PRJ-001', 'planned', false])
    const replay = createProject(state, {projectCode: 'DX-1', name: 'Demo'}, 'key-1', now)
    assert.deepEqual([replay.item.id, replay.idempotent], ['PRJ-001', true])
    assert.throws(() => createProject(state, {projectCode: 'DX-1', name: 'Again'}, 'key-2', now), {
      status: 409,
      code: 'duplicate_project',
    })
    assert.equal(state.projects.length, 1)
  })

  it('validates input with 400 naming the field', () => {
    assert.throws(() => createProject(empty(), {projectName: 'x'}, undefined, now), {
      status: 400,
      code: 'validation_failed',
      details: {field: 'projectCode'},
    })
    assert.throws(() => createProject(empty(), {projectCode: 'A'}, undefined, now), {
      details: {field: 'projectName'},
    })
    assert.throws(
      () => createProject(empty(), {projectCode: 'A', name: 'n', status: 'weird'}, undefined, now),
      {details: {field: 'status'}},
    )
    assert.throws(() => createProject(empty(), {projectCode: 42, name: 'n'}, undefined, now), {
      details: {field: 'projectCode'},
    })
  })

  const transitions: Array<[string, string, string | number]> = [
    ['planned', 'activate', 'active'],
    ['planned', 'close', 'closed'],
    ['planned', 'hold', 409],
    ['active', 'hold', 'onhold'],
    ['active', 'close', 'closed'],
    ['active', 'activate', 409],
    ['onhold', 'resume', 'active'],
    ['onhold', 'activate', 'active'],
    ['onhold', 'close', 'closed'],
    ['closed', 'activate', 409],
    ['closed', 'resume', 409],
    ['active', 'explode', 400],
  ]
  for (const [from, action, expected] of transitions) {
    it(`${from} --${action}--> ${expected}`, () => {
      const state = withProject(from)
      if (typeof expected === 'number')
        assert.throws(() => projectAction(state, 'PRJ-001', action, now), {status: expected})
      else assert.equal(projectAction(state, 'PRJ-001', action, now).status, expected)
    })
  }

  it('answers 404 for an unknown project', () => {
    assert.throws(() => projectAction(withProject(), 'PRJ-999', 'close', now), {
      status: 404,
      code: 'project_not_found',
    })
  })
})

describe('pm timesheets', () => {
  const valid = {projectCode: 'DX-1', userName: 'tester', hours: 5.5, workDate: '2026-11-20'}

  it('creates drafts, or submitted ones with autoSubmit', () => {
    const state = withProject()
    assert.equal(createTimesheet(state, valid, now).status, 'draft')
    assert.equal(createTimesheet(state, {...valid, autoSubmit: true}, now).status, 'submitted')
    assert.deepEqual(
      state.timesheets.map((t) => t.id),
      ['TS-001', 'TS-002'],
    )
  })

  const invalid: Array<[string, Record<string, unknown>, string]> = [
    ['zero hours', {hours: 0}, 'hours'],
    ['more than 24 hours', {hours: 24.5}, 'hours'],
    ['hours as a string', {hours: '5'}, 'hours'],
    ['a bad date', {workDate: '20-11-2026'}, 'workDate'],
    ['no user', {userName: ''}, 'userName'],
    ['an unknown project', {projectCode: 'NOPE'}, 'projectCode'],
  ]
  for (const [name, patch, field] of invalid) {
    it(`refuses ${name} with 400 naming ${field}`, () => {
      assert.throws(() => createTimesheet(withProject(), {...valid, ...patch}, now), {
        status: 400,
        code: 'validation_failed',
        details: {field},
      })
    })
  }

  const flows: Array<[string[], string | number]> = [
    [['submit'], 'submitted'],
    [['submit', 'approve'], 'approved'],
    [['submit', 'reject'], 'rejected'],
    [['submit', 'reject', 'resubmit'], 'submitted'],
    [['approve'], 409],
    [['submit', 'approve', 'reject'], 409],
    [['submit', 'submit'], 409],
    [['publish'], 400],
  ]
  for (const [actions, expected] of flows) {
    it(`draft then ${actions.join(', ')} → ${expected}`, () => {
      const state = withProject()
      createTimesheet(state, valid, now)
      const run = () =>
        actions.reduce((_, action) => applyTimesheetAction(state, 'TS-001', action, now).status, '')
      if (typeof expected === 'number') assert.throws(run, {status: expected})
      else assert.equal(run(), expected)
    })
  }

  it('deletes drafts but not approved timesheets; 404 for unknown ids', () => {
    const state = withProject()
    createTimesheet(state, valid, now)
    createTimesheet(state, {...valid, autoSubmit: true}, now)
    applyTimesheetAction(state, 'TS-002', 'approve', now, {eventId: 'ev-1'})
    assert.equal(deleteTimesheet(state, 'TS-001', now).id, 'TS-001')
    assert.throws(() => deleteTimesheet(state, 'TS-002', now), {status: 409})
    assert.throws(() => deleteTimesheet(state, 'TS-404', now), {status: 404})
  })

  it('links an invoice once, however often fi announces it', () => {
    const state = withProject()
    createTimesheet(state, {...valid, autoSubmit: true}, now)
    const invoice = {invoiceId: 'INV-TS-001-a', timesheetId: 'TS-001', status: 'draft'}
    assert.equal(linkInvoice(state, invoice, now), true)
    assert.equal(linkInvoice(state, invoice, now), false)
    assert.equal(state.invoices.length, 1)
    assert.equal(state.timesheets[0]?.invoiceId, 'INV-TS-001-a')
  })
})

describe('pm state of an older pm, and linked invoices', () => {
  it('reads a state written before the seed’s names: every alias filled in, nothing lost', () => {
    const old = {
      projects: [
        {
          id: 'PRJ-001',
          projectCode: 'OLD-1',
          projectName: 'Old',
          status: 'active',
          createdAt: '2025-01-02T03:04:05.000Z',
          updatedAt: '2025-01-02T03:04:05.000Z',
        },
      ],
      timesheets: [
        {
          id: 'TS-001',
          projectId: 'PRJ-001',
          projectCode: 'OLD-1',
          userName: 'sato',
          hours: 2,
          workDate: '2025-01-02',
          status: 'approved',
          createdAt: '2025-01-02T03:04:05.000Z',
          updatedAt: '2025-01-02T03:04:05.000Z',
        },
      ],
      invoices: [
        {
          invoiceId: 'INV-X',
          timesheetId: 'TS-001',
          projectCode: 'OLD-1',
          amount: 16000,
          status: 'draft',
          createdAt: '2025-01-03T00:00:00.000Z',
        },
      ],
      events: [],
      projectRequests: {},
    } as unknown as PmState
    const state = normalizeState(old)
    const [project] = state.projects
    assert.deepEqual(
      [project?.code, project?.name, project?.health, project?.tags, project?.startOn],
      ['OLD-1', 'Old', 'green', [], '2025-01-02'],
    )
    const [timesheet] = state.timesheets
    assert.deepEqual(
      [timesheet?.approvalStatus, timesheet?.employeeId, timesheet?.rateType, timesheet?.projectName],
      ['approved', 'sato', 'standard', 'Old'],
    )
    const [invoice] = state.invoices
    assert.deepEqual(
      [
        invoice?.id,
        invoice?.invoiceNumber,
        invoice?.issueDate,
        invoice?.amountIncludingTax,
        invoice?.source,
        invoice?.amount,
      ],
      ['INV-X', 'INV-X', '2025-01-03', 16000, 'fi', 16000],
    )
    assert.deepEqual(state.timesheetRequests, {})
  })

  it('reads the seed’s own shape (code, name, approvalStatus) as ours', () => {
    const state = normalizeState({
      projects: [{id: 'PRJ-1001', code: 'DX', name: 'DX', status: 'active'}],
      timesheets: [
        {
          id: 'TS-1',
          projectId: 'PRJ-1001',
          userName: 'u',
          hours: 1,
          workDate: '2025-09-12',
          approvalStatus: 'submitted',
        },
      ],
      invoices: [],
      events: [],
      projectRequests: {},
    } as unknown as PmState)
    assert.deepEqual([state.projects[0]?.projectCode, state.projects[0]?.projectName], ['DX', 'DX'])
    assert.deepEqual([state.timesheets[0]?.status, state.timesheets[0]?.projectCode], ['submitted', 'DX'])
  })

  it('gives a linked invoice the compliance fields pm can derive: client, subject, amount, issue date', () => {
    const state = withProject()
    state.projects[0]!.clientName = 'Kugel Retail'
    createTimesheet(
      state,
      {...{projectCode: 'DX-1', userName: 'u', hours: 3, workDate: '2026-11-20'}, autoSubmit: true},
      now,
    )
    linkInvoice(
      state,
      {invoiceId: 'INV-A', timesheetId: 'TS-001', amount: 24000, currency: 'JPY', status: 'draft'},
      now,
    )
    const invoice = state.invoices[0]!
    assert.deepEqual(
      {
        id: invoice.id,
        number: invoice.invoiceNumber,
        issueDate: invoice.issueDate,
        counterparty: invoice.counterpartyName,
        subject: invoice.subject,
        gross: invoice.amountIncludingTax,
        net: invoice.amountExcludingTax,
        projectCode: invoice.projectCode,
        attachments: invoice.attachments,
      },
      {
        id: 'INV-A',
        number: 'INV-A',
        issueDate: '2026-11-23',
        counterparty: 'Kugel Retail',
        subject: 'Timesheet TS-001: 3 h on Demo',
        gross: 24000,
        net: 24000,
        projectCode: 'DX-1',
        attachments: [],
      },
    )
  })

  it('lists seeded and linked invoices together, ordered by instant across offsets', () => {
    const seeded = normalizeInvoice(
      {
        id: 'inv-1',
        invoiceNumber: 'I-1',
        issueDate: '2026-11-23',
        counterpartyName: 'C',
        subject: 's',
        amountIncludingTax: 5,
        amountExcludingTax: 4,
        currency: 'JPY',
        status: 'matched',
        tags: [],
        attachments: [],
        createdAt: '2026-11-23T08:30:00+09:00',
        updatedAt: '2026-11-23T08:30:00+09:00',
      },
      {},
    )
    const state = withProject()
    state.invoices.push(seeded)
    createTimesheet(
      state,
      {projectCode: 'DX-1', userName: 'u', hours: 1, workDate: '2026-11-20', autoSubmit: true},
      now,
    )
    // 00:00Z is after 08:30+09:00 (23:30Z the day before), though its text sorts first.
    linkInvoice(state, {invoiceId: 'INV-B', timesheetId: 'TS-001', amount: 8000, status: 'draft'}, now)
    const page = listInvoices(state.invoices, invoiceQuery.parse({sortBy: 'createdAt', sortDir: 'asc'}), now)
    assert.deepEqual(
      page.items.map((i) => i.id),
      ['inv-1', 'INV-B'],
    )
    assert.equal(page.meta.total, 2)
  })
})
