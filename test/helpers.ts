import assert from 'node:assert/strict'
import {mkdtempSync, readlinkSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {execa} from 'execa'
import {listPids, readStat} from '../src/stack/proc.js'
import type {UpResult} from '../src/stack/stack.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const binRun = path.join(repoRoot, 'bin', 'run.js')

/**
 * Port offsets of the test stacks: every integration file has its own, so files never share a
 * port with each other or with a developer's stack on the default ports (a unit test checks).
 * All stay below the kernel's ephemeral range (32768+), where client sockets could take them.
 * Offsets still free with this set (ui's 4000 counted): 2500 2525 2550 2575
 * 2700 2725 2750 2775 3875 3900 3925 3950 4075 4100 4125 4150.
 */
export const testPortOffsets = {
  lifecycle: 25,
  errors: 50,
  interrupt: 75,
  bus: 200,
  services: 225,
  backbone: 250,
  dlq: 275,
  reset: 400,
  smoke: 425,
  smokeFaults: 450,
  gateway: 475,
  harden: 600,
  stress: 625,
  telemetry: 650,
  bench: 675,
  podman: 800,
  podmanPort: 825,
  podmanServices: 850,
  grafana: 875,
  streams: 1900,
  gatewaySeed: 1925,
  metricsLint: 1950,
  interop: 1975,
  ui: 2100,
  uiPodman: 2125,
  salesCredit: 2150,
  smokeUi: 2175,
  minio: 2300,
  minioPodman: 2325,
  attachments: 2350,
  attachmentsPodman: 2375,
} as const

export function makeHome(label: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `poc-test-${label}-`))
}

export interface PocRun {
  exitCode: number
  stdout: string
  stderr: string
}

/** Run the CLI as a user would: `node bin/run.js …` with POC_HOME pointing at the test's home. */
export async function runPoc(
  home: string,
  args: string[],
  env: Record<string, string> = {},
  /** Longer for a call that may build a local image (about 3 minutes cold for minio's). */
  timeoutMs = 180_000,
): Promise<PocRun> {
  const result = await execa('node', [binRun, ...args], {
    // The native runtime unless a test asks for another: auto would pick podman where it is installed.
    env: {POC_HOME: home, NO_COLOR: '1', POC_RUNTIME: 'native', ...env},
    reject: false,
    timeout: timeoutMs,
  })
  // oclif wraps error messages at the terminal width; tests match the sentence, not the wrapping.
  const stderr = result.stderr.replace(/\s*\n ›\s+/g, ' ')
  return {exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr}
}

/**
 * `poc up --port-offset <offset> --json` (with `--only` when given) for a test file's stack;
 * fails the test with the CLI's output unless it exits 0. Answers the parsed result.
 */
export async function upStack(home: string, offset: number, only?: string): Promise<UpResult> {
  const args = ['up', ...(only ? ['--only', only] : []), '--port-offset', String(offset), '--json']
  const run = await runPoc(home, args)
  assert.equal(run.exitCode, 0, run.stdout + run.stderr)
  return parseJson<UpResult>(run)
}

export function parseJson<T>(run: PocRun): T {
  try {
    return JSON.parse(run.stdout) as T
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.exitCode}):\n${run.stdout}\nstderr:\n${run.stderr}`)
  }
}

/** Live (non-zombie) processes whose working directory is inside `home`: what `poc down` must leave none of. */
export function processesUnder(home: string): number[] {
  return listPids().filter((pid) => {
    const stat = readStat(pid)
    if (!stat || stat.state === 'Z') return false
    try {
      return `${readlinkSync(`/proc/${pid}/cwd`)}/`.startsWith(`${home}/`)
    } catch {
      return false
    }
  })
}

/** Best-effort cleanup after a test, whatever state it failed in. */
export async function cleanup(home: string): Promise<void> {
  // The home is deleted next: --volumes kills at once rather than waiting out graceful stops.
  await runPoc(home, ['down', '--volumes'])
  if (!process.env.KEEP_TEST_HOME) rmSync(home, {recursive: true, force: true})
}

export interface RawAnswer {
  /** 0 when the server closed or the time ran out before a status line. */
  status: number
  headers: string
  body: string
  /** The server neither answered nor closed within the time. */
  timedOut: boolean
}

/**
 * Sends `request` as raw bytes (methods, missing headers, what fetch refuses to send) and reads
 * the first answer, up to its Content-Length, or until the server closes or `timeoutMs` passes.
 */
export async function rawRequest(port: number, request: string, timeoutMs = 3000): Promise<RawAnswer> {
  const {connect} = await import('node:net')
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    let settled = false
    const finish = (timedOut: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const split = data.indexOf('\r\n\r\n')
      const head = split === -1 ? data : data.slice(0, split)
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
      resolve({status, headers: head, body: split === -1 ? '' : data.slice(split + 4), timedOut})
    }
    const timer = setTimeout(() => finish(true), timeoutMs)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
      const split = data.indexOf('\r\n\r\n')
      if (split === -1) return
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, split))?.[1]
      const bodyBytes = Buffer.byteLength(data.slice(split + 4))
      const isHead = request.startsWith('HEAD ')
      if (isHead || (length !== undefined && bodyBytes >= Number(length))) finish(false)
    })
    socket.on('error', () => finish(false))
    socket.on('close', () => finish(false))
    socket.write(request)
  })
}
