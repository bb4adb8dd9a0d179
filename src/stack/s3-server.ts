import {execFile} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'
import {
  type ObjectStoreConfig,
  objectStoreDefaults,
  objectStoreFromEnv,
  s3Client,
  sdk,
} from '../contract/object-store.js'
import type {ComponentContext} from './catalog.js'
import {PocError} from './errors.js'
import type {ReadinessCheck} from './readiness.js'

/**
 * The `minio` component's S3 server where no MinIO can be had: Debian's Ceph, one monitor, one
 * OSD (BlueStore on a file) and radosgw, over the component's data directory. One shell script
 * does it under every runtime: natively poc runs its steps `mon`, `osd` and `rgw` as three
 * managed processes; poc's local image runs it as the entrypoint (step `server`: all three,
 * stopped together on SIGTERM). The script writes ceph.conf from the variables below on every
 * start, so paths and ports always match where it runs.
 */

/** Where the script lives in poc's local image (its entrypoint). */
export const cephS3ScriptPath = '/usr/local/bin/poc-ceph-s3'

/** Where the server keeps its data inside a container: the official MinIO image's /data. */
export const containerDataDir = '/data'

/** The credentials and bucket the server is started with (seed: minioadmin/minioadmin, bucket events). */
export interface S3ServerSettings {
  user: string
  password: string
  bucket: string
}

/** The caller's MINIO_ROOT_USER, MINIO_ROOT_PASSWORD and MINIO_BUCKET, else the seed's defaults. */
export function s3ServerSettings(env: NodeJS.ProcessEnv = process.env): S3ServerSettings {
  return {
    user: env.MINIO_ROOT_USER || objectStoreDefaults.accessKey,
    password: env.MINIO_ROOT_PASSWORD || objectStoreDefaults.secretKey,
    bucket: env.MINIO_BUCKET || objectStoreDefaults.bucket,
  }
}

/** The variables the caller of `poc up` may set for the server. */
export const s3ServerPassEnv = ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD', 'MINIO_BUCKET']

/** The settings a stack was started with, kept beside its data so `poc status` and `poc reset` use the same. */
const settingsFile = 's3-server.json'

export async function writeS3ServerSettings(dataDir: string, settings: S3ServerSettings): Promise<void> {
  await writeFile(path.join(dataDir, settingsFile), `${JSON.stringify(settings, null, 2)}\n`, {mode: 0o600})
}

/** The settings of the stack's last start, or the caller's when it never started. */
export async function readS3ServerSettings(dataDir: string): Promise<S3ServerSettings> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, settingsFile), 'utf8')) as S3ServerSettings
  } catch {
    return s3ServerSettings()
  }
}

/** The script's environment: where the data is, where each daemon listens, the S3 user and bucket. */
export function cephS3Env(
  dataDir: string,
  bind: {host: string; ports: Record<string, number>},
  settings: S3ServerSettings,
): Record<string, string> {
  const p = bind.ports
  return {
    POC_S3_DATA: dataDir,
    POC_S3_HOST: bind.host,
    POC_S3_API_PORT: String(p.api),
    POC_S3_MON_PORT: String(p.mon),
    POC_S3_OSD_PORTS: `${p.osd}-${p.osd4}`,
    MINIO_ROOT_USER: settings.user,
    MINIO_ROOT_PASSWORD: settings.password,
    MINIO_BUCKET: settings.bucket,
  }
}

/**
 * The script's `init` step before the daemons start: ceph.conf for this start, and on the first
 * one the keys and the monitor's store (~1 s; nothing waits on a daemon).
 */
export async function runCephInit(script: string, env: Record<string, string>): Promise<void> {
  try {
    await promisify(execFile)('bash', [script, 'init'], {
      env: {PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env},
      timeout: 60_000,
    })
  } catch (error) {
    const stderr = String((error as {stderr?: string}).stderr ?? '').trim()
    throw new PocError(
      `preparing Ceph's monitor store for minio failed: ${(error as Error).message.split('\n')[0]}`,
      {
        code: 'ceph_init_failed',
        details: stderr.split('\n').slice(-10),
        suggestions: [`Start it from empty data: poc down --only minio --volumes, then poc up --with minio`],
      },
    )
  }
}

/** The object store as poc reaches the component on this stack. */
export function objectStoreOf(ctx: ComponentContext, settings: S3ServerSettings): ObjectStoreConfig {
  return objectStoreFromEnv({
    USE_MINIO: 'true',
    MINIO_ENDPOINT: ctx.host,
    MINIO_PORT: String(ctx.ports.api),
    MINIO_ACCESS_KEY: settings.user,
    MINIO_SECRET_KEY: settings.password,
    MINIO_BUCKET: settings.bucket,
  }) as ObjectStoreConfig
}

/**
 * Ready when an authenticated HeadBucket of the stack's bucket succeeds, which proves the
 * server, the user, its keys and the bucket. The Ceph script creates user and bucket itself;
 * MinIO (the official image, or a minio binary natively: its /minio/health/ready answers with a
 * MinIO Server header) starts with its root user and no bucket, so there the probe creates the
 * bucket on the first start. radosgw has no health route (it reads it as bucket "minio").
 */
export function s3Ready(ctx: ComponentContext): ReadinessCheck {
  const base = `http://${ctx.host}:${ctx.ports.api}`
  return {
    description: `MinIO's /minio/health/ready or an S3 HeadBucket on ${base}`,
    probe: async (signal) => {
      const health = await fetch(`${base}/minio/health/ready`, {signal})
      await health.arrayBuffer()
      const minio = health.ok && (health.headers.get('server')?.toLowerCase().includes('minio') ?? false)
      const settings = await readS3ServerSettings(ctx.dataDir)
      const client = s3Client(objectStoreOf(ctx, settings))
      try {
        await client.send(new (sdk().HeadBucketCommand)({Bucket: settings.bucket}), {abortSignal: signal})
      } catch (error) {
        const status = (error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode
        // MinIO (the official image, or a minio binary) starts with no bucket: the first start
        // creates it, as the Ceph script does for radosgw. (Not exercised here: no MinIO can run
        // on this machine.)
        if (minio && status === 404) {
          await client.send(new (sdk().CreateBucketCommand)({Bucket: settings.bucket}), {abortSignal: signal})
          return
        }
        throw new Error(
          status === 404
            ? `bucket ${settings.bucket} does not exist yet`
            : `HeadBucket ${settings.bucket}: ${status ? `HTTP ${status}` : (error as Error).message}`,
        )
      } finally {
        client.destroy()
      }
    },
  }
}

/** Every object whose key starts with one of the prefixes (`compliance/`), in every bucket, deleted; nothing else. */
export async function clearObjectPrefixes(
  store: ObjectStoreConfig,
  prefixes: readonly string[],
): Promise<{buckets: number; objects: number}> {
  const client = s3Client(store)
  const signal = () => ({abortSignal: AbortSignal.timeout(15_000)})
  try {
    const buckets = (await client.send(new (sdk().ListBucketsCommand)({}), signal())).Buckets ?? []
    let objects = 0
    for (const {Name: bucket} of buckets) {
      if (!bucket) continue
      for (const prefix of prefixes) {
        let token: string | undefined
        do {
          const page = await client.send(
            new (sdk().ListObjectsV2Command)({
              Bucket: bucket,
              Prefix: `${prefix}/`,
              ContinuationToken: token,
            }),
            signal(),
          )
          const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{Key: o.Key}] : []))
          if (keys.length > 0) {
            const answer = await client.send(
              new (sdk().DeleteObjectsCommand)({Bucket: bucket, Delete: {Objects: keys, Quiet: true}}),
              signal(),
            )
            const failed = answer.Errors ?? []
            if (failed.length > 0)
              throw new Error(
                `${failed.length} object(s) not deleted, e.g. ${failed[0]?.Key}: ${failed[0]?.Message}`,
              )
            objects += keys.length
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined
        } while (token)
      }
    }
    return {buckets: buckets.length, objects}
  } finally {
    client.destroy()
  }
}

/**
 * The script (bash: `wait -n`). Kept free of `${` so it can live in this String.raw.
 * Pitfalls it avoids, measured on Ceph 16: cephx, not `auth none` (radosgw fails with -13);
 * `osd new` with the same uuid as `--mkfs --osd-uuid` (else the OSD stays down); the OSD's crush
 * entry added by hand; BlueStore's block file outside the OSD directory; every `ceph` call with
 * a connect timeout and a timeout (it waits 300 s for an absent monitor); msgr2 only and every
 * port pinned, so two stacks never meet on Ceph's default 6800-7300.
 */
export const cephS3Script = String.raw`#!/bin/bash
# poc's S3 server from Debian's Ceph: one monitor, one OSD and radosgw over $POC_S3_DATA.
# Steps: init (ceph.conf; on first start keys and the monitor's store), then mon, osd, rgw (each
# prepares what it needs on first start, then execs its daemon in the foreground); server (init
# and all three, for a container; SIGTERM stops them); conf (print ceph.conf).
set -euo pipefail
D=$POC_S3_DATA
export CEPH_CONF=$D/ceph.conf
MON=127.0.0.1:$POC_S3_MON_PORT
OSD_MIN=$(echo "$POC_S3_OSD_PORTS" | cut -d- -f1)
OSD_MAX=$(echo "$POC_S3_OSD_PORTS" | cut -d- -f2)
API=$POC_S3_HOST:$POC_S3_API_PORT
log() { echo "[poc-ceph-s3] $*"; }
ceph_() { timeout 60 ceph --connect-timeout 30 "$@"; }

conf() {
  cat <<EOF
[global]
fsid = $(cat "$D/fsid")
mon host = v2:$MON
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv4 = true
ms bind ipv6 = false
client mount timeout = 30
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# Each pool radosgw creates (six at first start) is an osdmap proposal the monitor batches for
# paxos propose interval (1 s by default): the time between the OSD up and radosgw answering
# went from 8.9 s to 3.9 s with these, and the first bucket from 2.4 s to 0.5 s.
paxos propose interval = 0.05
paxos min wait = 0.01
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
[mon]
mon data = $D/mon/ceph-a
[osd]
osd data = $D/osd/ceph-0
ms bind port min = $OSD_MIN
ms bind port max = $OSD_MAX
osd objectstore = bluestore
bluestore block path = $D/block
bluestore block create = true
bluestore block size = 4294967296
bluestore block db create = false
bluestore block wal create = false
bluestore cache size = 67108864
osd memory target = 268435456
bluestore fsck on mount = false
bluestore fsck on mkfs = false
osd crush update on start = false
osd class update on start = false
# radosgw watches its control objects; a killed one's watches live on (across an OSD restart)
# until this timeout, and every bucket created meanwhile waits for them: 28 s at the default 30.
osd client watch timeout = 5
[client.rgw]
rgw frontends = beast endpoint=$API
rgw data = $D/rgw
rgw dns name =
# On SIGTERM radosgw 16 logs "shutting down" and then hangs until this alarm ends it (120 s by
# default); it keeps nothing of its own (every write is in the OSD), so a short one is safe.
rgw exit timeout secs = 2
EOF
}

write_conf() {
  mkdir -p "$D/run" "$D/log" "$D/mon" "$D/osd" "$D/rgw"
  [ -s "$D/fsid" ] || cat /proc/sys/kernel/random/uuid > "$D/fsid"
  [ -s "$D/osd-uuid" ] || cat /proc/sys/kernel/random/uuid > "$D/osd-uuid"
  conf > "$CEPH_CONF.tmp"
  mv "$CEPH_CONF.tmp" "$CEPH_CONF"
}

# First start: keys and the monitor's store (no daemon needed). Later: its address follows the port.
init() {
  write_conf
  if [ ! -e "$D/mon.done" ]; then
    log "first start: creating keys and the monitor store"
    rm -rf "$D/mon/ceph-a" "$D/keyring" "$D/monmap"
    ceph-authtool --create-keyring "$D/keyring.tmp" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$D/keyring.tmp" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
    ceph-authtool "$D/keyring.tmp" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
    ceph-authtool "$D/keyring.tmp" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
    mv "$D/keyring.tmp" "$D/keyring"
    monmaptool --create --clobber --fsid "$(cat "$D/fsid")" --addv a "[v2:$MON]" "$D/monmap" >/dev/null
    ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
    echo "$MON" > "$D/mon-addr"
    touch "$D/mon.done"
  elif [ "$(cat "$D/mon-addr")" != "$MON" ]; then
    log "the monitor moved to $MON: rewriting its monmap"
    ceph-mon -i a --extract-monmap "$D/monmap"
    monmaptool --rm a --addv a "[v2:$MON]" "$D/monmap" >/dev/null
    ceph-mon -i a --inject-monmap "$D/monmap"
    echo "$MON" > "$D/mon-addr"
  fi
}

run_mon() {
  exec ceph-mon -i a -f
}

run_osd() {
  if [ ! -e "$D/osd.done" ]; then
    log "first start: registering and formatting osd.0"
    uuid=$(cat "$D/osd-uuid")
    ceph_ osd new "$uuid" 0 >/dev/null
    ceph_ osd crush add osd.0 1.0 root=default >/dev/null
    rm -rf "$D/osd/ceph-0" "$D/block"
    mkdir -p "$D/osd/ceph-0"
    ceph-osd -i 0 --mkfs --osd-uuid "$uuid"
    touch "$D/osd.done"
  fi
  exec ceph-osd -i 0 -f
}

# The S3 user (again when the credentials changed) and, once radosgw answers, the bucket.
run_rgw() {
  want="$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD"
  if [ "$(cat "$D/s3-user" 2>/dev/null || true)" != "$want" ]; then
    log "creating the S3 user $MINIO_ROOT_USER"
    timeout 120 radosgw-admin user create --uid="$MINIO_ROOT_USER" --display-name=poc \
      --access-key="$MINIO_ROOT_USER" --secret-key="$MINIO_ROOT_PASSWORD" >/dev/null 2>&1 ||
      timeout 60 radosgw-admin key create --uid="$MINIO_ROOT_USER" --key-type=s3 \
        --access-key="$MINIO_ROOT_USER" --secret-key="$MINIO_ROOT_PASSWORD" >/dev/null
    echo "$want" > "$D/s3-user"
  fi
  if [ "$(cat "$D/s3-bucket" 2>/dev/null || true)" != "$MINIO_BUCKET" ]; then
    (
      url=http://127.0.0.1:$POC_S3_API_PORT/$MINIO_BUCKET
      for _ in $(seq 1 600); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
          -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --user "$want" -X PUT "$url" || true)
        case $code in
          200|409) log "bucket $MINIO_BUCKET ready"; echo "$MINIO_BUCKET" > "$D/s3-bucket"; exit 0 ;;
        esac
        sleep 0.1
      done
      log "could not create the bucket $MINIO_BUCKET (last answer $code)"
    ) &
  fi
  exec radosgw -n client.rgw -f
}

# A container's entrypoint: all three, stopped together; one ending ends the container.
server() {
  init
  (run_mon) & mon=$!
  (run_osd) & osd=$!
  (run_rgw) & rgw=$!
  stop() { trap - TERM INT; kill -TERM "$rgw" "$osd" 2>/dev/null || true; wait "$rgw" "$osd" 2>/dev/null || true
           kill -TERM "$mon" 2>/dev/null || true; wait 2>/dev/null || true; exit "$1"; }
  trap 'stop 0' TERM INT
  wait -n "$mon" "$osd" "$rgw" || true
  log "a Ceph daemon exited; stopping the others"
  stop 1
}

case "$1" in
  init) init ;;
  mon) run_mon ;;
  osd) run_osd ;;
  rgw) run_rgw ;;
  server) server ;;
  conf) write_conf >/dev/null; cat "$CEPH_CONF" ;;
  *) echo "usage: poc-ceph-s3 init|mon|osd|rgw|server|conf" >&2; exit 2 ;;
esac
`
