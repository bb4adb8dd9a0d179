import {createHash} from 'node:crypto'
import {createRequire} from 'node:module'
import {setTimeout as delay} from 'node:timers/promises'
import type {S3Client} from '@aws-sdk/client-s3'

// The SDK takes about a second to load on this machine: it is loaded on the first client, so the
// CLI (the catalog reads the defaults here) and pm without USE_MINIO never pay for it. A server
// loads it with loadSdk() (an import, which lets it answer requests meanwhile); sdk() then answers
// that copy, else requires it there and then.
const require = createRequire(import.meta.url)
type Sdk = typeof import('@aws-sdk/client-s3')
type Presigner = typeof import('@aws-sdk/s3-request-presigner')
let loaded: {sdk?: Sdk; presigner?: Presigner} = {}

/** The S3 SDK (@aws-sdk/client-s3), loaded on first use; every module takes its commands from here. */
export const sdk = (): Sdk => (loaded.sdk ??= require('@aws-sdk/client-s3') as Sdk)
const presigner = (): Presigner =>
  (loaded.presigner ??= require('@aws-sdk/s3-request-presigner') as Presigner)

/** Loads the SDK without blocking the event loop for the whole load (a server, before its first client). */
export async function loadSdk(): Promise<void> {
  if (!loaded.sdk) {
    const [client, signer] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@aws-sdk/s3-request-presigner'),
    ])
    loaded = {sdk: loaded.sdk ?? client, presigner: loaded.presigner ?? signer}
  }
}

/** What poc writes under a bucket, and all that `poc reset --with-minio` removes (seed: compliance/ and timesheets/). */
export const objectPrefixes = ['compliance', 'timesheets'] as const

/** The seed's defaults (its podman-compose.yml and pm-service). */
export const objectStoreDefaults = {
  endpoint: 'localhost',
  port: 9000,
  accessKey: 'minioadmin',
  secretKey: 'minioadmin',
  bucket: 'events',
  presignSeconds: 600,
  region: 'us-east-1',
  maxRetries: 3,
  retryBackoffMs: 500,
} as const

export interface ObjectStoreConfig {
  /** Where this process reaches the server: `http://host:port`. */
  endpoint: string
  /** Where a browser or another host reaches it: the host part of presigned URLs (MINIO_PUBLIC_ENDPOINT/PORT). */
  publicEndpoint: string
  accessKey: string
  secretKey: string
  bucket: string
  presignSeconds: number
  region: string
  /** MINIO_MAX_RETRIES: attempts of one seeding step (pm's attachments) before it counts as failed. */
  maxRetries: number
  /** MINIO_RETRY_BACKOFF_MS: the wait after attempt n is n × this. */
  retryBackoffMs: number
}

// The SDK warns on Node 20 that releases after January 2027 need Node 22; package.json pins a
// release that supports Node 20 (the machine's), so the warning says nothing a user can act on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

function truthy(value: string | undefined): boolean {
  return ['1', 'true', 'yes'].includes((value ?? '').trim().toLowerCase())
}

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw new Error(`${name} must be a port number (1-65535), got "${value}"`)
  return n
}

function whole(value: string | undefined, fallback: number, name: string, min: number, max: number): number {
  if (value === undefined || value.trim() === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${value}"`)
  return n
}

/** The object store a process should use, or undefined when USE_MINIO is not true. Throws a clear message on a bad value. */
export function objectStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ObjectStoreConfig | undefined {
  if (!truthy(env.USE_MINIO)) return undefined
  const scheme = truthy(env.MINIO_USE_SSL) ? 'https' : 'http'
  const host = env.MINIO_ENDPOINT || objectStoreDefaults.endpoint
  const serverPort = port(env.MINIO_PORT, objectStoreDefaults.port, 'MINIO_PORT')
  const publicHost = env.MINIO_PUBLIC_ENDPOINT || objectStoreDefaults.endpoint
  const publicPort = port(env.MINIO_PUBLIC_PORT, serverPort, 'MINIO_PUBLIC_PORT')
  // SigV4 presigned URLs are valid for at most 7 days.
  const presign = whole(
    env.MINIO_PRESIGN_SECONDS,
    objectStoreDefaults.presignSeconds,
    'MINIO_PRESIGN_SECONDS',
    1,
    604_800,
  )
  const maxRetries = whole(env.MINIO_MAX_RETRIES, objectStoreDefaults.maxRetries, 'MINIO_MAX_RETRIES', 1, 100)
  const retryBackoffMs = whole(
    env.MINIO_RETRY_BACKOFF_MS,
    objectStoreDefaults.retryBackoffMs,
    'MINIO_RETRY_BACKOFF_MS',
    0,
    60_000,
  )
  if (/[/:\s]/.test(host)) throw new Error(`MINIO_ENDPOINT must be a host name or address, got "${host}"`)
  if (/[/:\s]/.test(publicHost))
    throw new Error(`MINIO_PUBLIC_ENDPOINT must be a host name or address, got "${publicHost}"`)
  return {
    endpoint: `${scheme}://${host}:${serverPort}`,
    publicEndpoint: `${scheme}://${publicHost}:${publicPort}`,
    accessKey: env.MINIO_ACCESS_KEY || objectStoreDefaults.accessKey,
    secretKey: env.MINIO_SECRET_KEY || objectStoreDefaults.secretKey,
    bucket: env.MINIO_BUCKET || objectStoreDefaults.bucket,
    presignSeconds: presign,
    region: env.MINIO_REGION || objectStoreDefaults.region,
    maxRetries,
    retryBackoffMs,
  }
}

/** Where an invoice's attachment is kept: `compliance/<invoiceId>/<file>` (the seed's key). */
export function complianceKey(invoiceId: string, fileName: string): string {
  return `${objectPrefixes[0]}/${invoiceId}/${fileName}`
}

/** Where `poc produce --with-attachments` keeps an approval's large payload: `timesheets/<id>/<approval>.json`. */
export function timesheetPayloadKey(timesheetId: string, approvalKey: string): string {
  return `${objectPrefixes[1]}/${timesheetId}/${approvalKey}.json`
}

/** The user metadata under which poc records an object's SHA-256 (hex), so a seeding run knows the object is current. */
export const sha256Metadata = 'sha256'

export function sha256Hex(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex')
}

/**
 * A GET URL of `key` a client without credentials can use for `seconds` (default
 * MINIO_PRESIGN_SECONDS), signed for the public endpoint: the host part is part of the signature,
 * so the URL is signed for where the browser goes, not rewritten afterwards.
 */
export async function presignGet(
  publicClient: S3Client,
  config: ObjectStoreConfig,
  key: string,
  seconds = config.presignSeconds,
): Promise<string> {
  const {GetObjectCommand} = sdk()
  return presigner().getSignedUrl(publicClient, new GetObjectCommand({Bucket: config.bucket, Key: key}), {
    expiresIn: seconds,
  })
}

/** Creates the bucket unless it exists (HEAD first: a server may refuse a create of an existing one). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  const {CreateBucketCommand, HeadBucketCommand} = sdk()
  try {
    await client.send(new HeadBucketCommand({Bucket: bucket}))
    return
  } catch (error) {
    if ((error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode !== 404) throw error
  }
  try {
    await client.send(new CreateBucketCommand({Bucket: bucket}))
  } catch (error) {
    // Another process created it in between.
    const name = (error as Error).name
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error
  }
}

/**
 * `work` up to `config.maxRetries` times, waiting n × MINIO_RETRY_BACKOFF_MS after attempt n (the
 * seed's seeding loop); the last error is thrown.
 */
export async function withRetries<T>(
  config: Pick<ObjectStoreConfig, 'maxRetries' | 'retryBackoffMs'>,
  work: (attempt: number) => Promise<T>,
  onRetry?: (error: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt)
    } catch (error) {
      if (attempt >= config.maxRetries) throw error
      onRetry?.(error, attempt)
      await delay(config.retryBackoffMs * attempt)
    }
  }
}

/** A short reason of an SDK error: its name and HTTP status, or a network error's code. */
export function objectStoreError(error: unknown): string {
  const e = error as {name?: string; message?: string; code?: string; $metadata?: {httpStatusCode?: number}}
  const status = e.$metadata?.httpStatusCode
  const code = e.code ?? (e as {cause?: {code?: string}}).cause?.code
  return [
    e.name && e.name !== 'Error' ? e.name : undefined,
    status ? `HTTP ${status}` : undefined,
    code,
    e.message,
  ]
    .filter(Boolean)
    .filter((part, i, all) => all.indexOf(part) === i)
    .join(': ')
}

/** An S3 client for `endpoint` (the server as this process reaches it) or for the public endpoint (presigning only). */
export function s3Client(config: ObjectStoreConfig, which: 'endpoint' | 'public' = 'endpoint'): S3Client {
  return new (sdk().S3Client)({
    endpoint: which === 'public' ? config.publicEndpoint : config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: {accessKeyId: config.accessKey, secretAccessKey: config.secretKey},
    // A local server answers fast or not at all; the SDK's default of 3 attempts with backoff hides an outage.
    maxAttempts: 2,
    // Without these a request on a keep-alive socket the server dropped (it was restarted) waits
    // forever; 60 s of silence is far more than a 20 MB body needs from a local server.
    requestHandler: {connectionTimeout: 5_000, requestTimeout: 60_000},
  })
}
