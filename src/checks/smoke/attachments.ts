import {setTimeout as delay} from 'node:timers/promises'
import {type ObjectStoreConfig, presignGet, s3Client, sha256Hex} from '../../contract/object-store.js'
import {runningObjectStore} from '../../stack/running.js'
import {Probe} from './probe.js'
import type {SmokeTarget} from './target.js'
import {ScenarioFailure, check} from './types.js'

const pending = Probe.pending

/** Why scenario 14 does not check attachments against this stack, if it does not. */
export function attachmentsSkipReason(target: SmokeTarget): string | undefined {
  if (!target.expected.includes('minio'))
    return 'minio is not in the stack (poc up --with minio runs it; pm then keeps attachments there)'
  return undefined
}

interface AnsweredAttachment {
  fileName: string
  storageKey?: string
  downloadUrl?: string
  available?: boolean
  unavailableReason?: string
  sha256?: string
  sizeBytes?: number
}

export interface AttachmentCheck {
  summary: string
  metrics: Record<string, number>
}

/**
 * Scenario 14's object storage part (issue 18): pm answers a seeded compliance invoice with a
 * presigned downloadUrl for the host's address of minio; its bytes are the ones pm reports
 * (SHA-256 and size); a URL signed with the same credentials for 1 s works at once and is
 * refused (403) once it has expired.
 */
export async function checkAttachments(target: SmokeTarget, probe: Probe): Promise<AttachmentCheck> {
  check(target.running.has('minio'), 'minio is not running (start it with: poc up --with minio)')
  check(target.running.has('pm'), 'pm is not running (start it with: poc up --only pm)')
  return checkAttachmentsAt(target.url('pm'), await runningObjectStore(target.home), probe)
}

/** The check itself, against pm at `pm` and the object store as this host reaches it. */
export async function checkAttachmentsAt(
  pm: string,
  store: ObjectStoreConfig,
  probe: Probe,
): Promise<AttachmentCheck> {
  const attachment = await probe.until('an uploaded attachment of inv-2024-0001 in pm', async () => {
    const answer = await probe.http(
      'GET',
      `${pm}/api/v1/compliance/invoices?keyword=inv-2024-0001&pageSize=1`,
    )
    if (answer.status !== 200) pending(`pm answered ${answer.status}`)
    const [invoice] = ((answer.json as {items?: unknown[]})?.items ?? []) as Array<{
      attachments: AnsweredAttachment[]
    }>
    const first = invoice?.attachments[0] ?? pending('pm shows no inv-2024-0001 with an attachment')
    if (first.available === undefined) pending('pm answers attachments without object storage (no USE_MINIO)')
    return first.available ? first : pending(`not available: ${first.unavailableReason ?? 'no reason given'}`)
  })
  check(attachment.downloadUrl && attachment.storageKey, 'an available attachment has no downloadUrl')
  const url = new URL(attachment.downloadUrl)
  check(
    url.origin === store.publicEndpoint,
    `the downloadUrl is signed for ${url.origin}, not for where the host reaches minio (${store.publicEndpoint})`,
  )

  const started = performance.now()
  const download = await fetch(url, {signal: AbortSignal.timeout(10_000)})
  const bytes = Buffer.from(await download.arrayBuffer())
  const downloadMs = Math.round(performance.now() - started)
  check(
    download.status === 200,
    `the presigned URL answered ${download.status}: ${bytes.toString().slice(0, 200)}`,
  )
  const sha256 = sha256Hex(bytes)
  check(
    bytes.length === attachment.sizeBytes && sha256 === attachment.sha256,
    `downloaded ${bytes.length} B with SHA-256 ${sha256}; pm reports ${attachment.sizeBytes} B, ${attachment.sha256}`,
  )
  probe.note(
    `${attachment.storageKey}: ${bytes.length} B downloaded in ${downloadMs} ms, SHA-256 as pm reports`,
  )

  const client = s3Client(store, 'public')
  try {
    const short = await presignGet(client, store, attachment.storageKey, 1)
    const fresh = await fetch(short, {signal: AbortSignal.timeout(10_000)})
    await fresh.arrayBuffer()
    check(
      fresh.status === 200,
      `a fresh 1 s URL answered ${fresh.status}: the credentials do not sign for this server`,
    )
    await delay(2100)
    const expired = await fetch(short, {signal: AbortSignal.timeout(10_000)})
    const text = await expired.text()
    if (expired.status !== 403)
      throw new ScenarioFailure(
        `an expired URL answered ${expired.status} (expected 403): ${text.slice(0, 200)}`,
      )
    probe.note('a 1 s URL: 200 at once, 403 after 2.1 s')
  } finally {
    client.destroy()
  }
  return {
    summary: `attachment ${attachment.fileName} through its presigned URL (${bytes.length} B, SHA-256 as pm reports, ${downloadMs} ms); an expired URL 403`,
    metrics: {attachmentDownloadMs: downloadMs},
  }
}
