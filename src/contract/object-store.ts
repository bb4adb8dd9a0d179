import {S3Client} from '@aws-sdk/client-s3'

/**
 * The object store's contract across processes: the variables the seed stack reads (USE_MINIO,
 * MINIO_ENDPOINT, MINIO_PORT, …, with its defaults), the key prefixes poc writes and
 * `poc reset --with-minio` empties, and one way to build an S3 client from them (AWS SDK v3,
 * path-style, so one endpoint serves every bucket: MinIO and radosgw both answer that way).
 * The catalog sets these variables for pm and the producer when `minio` is in the stack; pm,
 * `poc produce`, reset and smoke read them here and nowhere else.
 */

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

/** The object store a process should use, or undefined when USE_MINIO is not true. Throws a clear message on a bad value. */
export function objectStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ObjectStoreConfig | undefined {
  if (!truthy(env.USE_MINIO)) return undefined
  const scheme = truthy(env.MINIO_USE_SSL) ? 'https' : 'http'
  const host = env.MINIO_ENDPOINT || objectStoreDefaults.endpoint
  const serverPort = port(env.MINIO_PORT, objectStoreDefaults.port, 'MINIO_PORT')
  const publicHost = env.MINIO_PUBLIC_ENDPOINT || objectStoreDefaults.endpoint
  const publicPort = port(env.MINIO_PUBLIC_PORT, serverPort, 'MINIO_PUBLIC_PORT')
  const presign =
    env.MINIO_PRESIGN_SECONDS === undefined || env.MINIO_PRESIGN_SECONDS === ''
      ? objectStoreDefaults.presignSeconds
      : Number(env.MINIO_PRESIGN_SECONDS)
  // SigV4 presigned URLs are valid for at most 7 days.
  if (!Number.isInteger(presign) || presign < 1 || presign > 604_800) {
    throw new Error(
      `MINIO_PRESIGN_SECONDS must be a whole number of seconds from 1 to 604800, got "${env.MINIO_PRESIGN_SECONDS}"`,
    )
  }
  return {
    endpoint: `${scheme}://${host}:${serverPort}`,
    publicEndpoint: `${scheme}://${publicHost}:${publicPort}`,
    accessKey: env.MINIO_ACCESS_KEY || objectStoreDefaults.accessKey,
    secretKey: env.MINIO_SECRET_KEY || objectStoreDefaults.secretKey,
    bucket: env.MINIO_BUCKET || objectStoreDefaults.bucket,
    presignSeconds: presign,
    region: env.MINIO_REGION || objectStoreDefaults.region,
  }
}

/** An S3 client for `endpoint` (the server as this process reaches it) or for the public endpoint (presigning only). */
export function s3Client(config: ObjectStoreConfig, which: 'endpoint' | 'public' = 'endpoint'): S3Client {
  return new S3Client({
    endpoint: which === 'public' ? config.publicEndpoint : config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: {accessKeyId: config.accessKey, secretAccessKey: config.secretKey},
    // A local server answers fast or not at all; the SDK's default of 3 attempts with backoff hides an outage.
    maxAttempts: 2,
  })
}
