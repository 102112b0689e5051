/**
 * A real herd daemon (its own process, the fake llama-server behind it) against a hostile
 * peer that holds the cluster secret (its own process too: fixtures/hostile-peer.ts). The
 * peer sends oversized and malformed heads, truncated frames, a stream flood, 64 bodies of
 * 15 MiB at once and 10,000 gossiped fake peers, and serves its models badly. Throughout,
 * the daemon keeps serving good requests, its memory stays bounded, it never crashes, and
 * it logs at warn, once per kind, what it refused.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { NODE_22, makeFakeLlamaBinary, makeFakeModel } from '../fixtures/fake-llama.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/hostile-peer.ts', import.meta.url))
const MIB = 1024 * 1024
/** The daemon's mesh.peer_timeout_ms: a begun frame must be whole within it. Room for a loaded machine, where a heartbeat can queue behind 15 MiB bodies. */
const PEER_TIMEOUT_MS = 2000
const verbose = (line: string): void => {
  if (process.env.HERD_TEST_VERBOSE) process.stderr.write(`${line}\n`)
}

interface Hostile {
  peerId: string
  call<T = Record<string, unknown>>(cmd: string, args?: Record<string, unknown>): Promise<T>
  stop(): Promise<void>
}

async function startHostile(secret: string, target: string): Promise<Hostile> {
  const child: ChildProcess = spawn(NODE_22, ['--disable-warning=ExperimentalWarning', FIXTURE, '--secret', secret, '--target', target], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const waiting = new Map<number, (msg: { result?: unknown; error?: string }) => void>()
  let started: (id: string) => void = () => {}
  const ready = new Promise<string>((resolve, reject) => {
    started = resolve
    child.once('exit', (code) => reject(new Error(`hostile peer exited with ${code}: ${stderr}`)))
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line) as { event?: string; peerId?: string; id?: number; result?: unknown; error?: string }
    if (msg.event === 'started') started(msg.peerId!)
    else if (msg.id !== undefined) waiting.get(msg.id)?.(msg)
  })
  const peerId = await ready
  let next = 0
  return {
    peerId,
    call: <T>(cmd: string, args: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        const id = ++next
        waiting.set(id, (msg) => {
          waiting.delete(id)
          if (msg.error !== undefined) reject(new Error(`${cmd}: ${msg.error}`))
          else resolve(msg.result as T)
        })
        child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
      }),
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

async function meshAddress(h: HerdProcess): Promise<string> {
  return waitFor('the mesh address', async () => {
    const { nodes } = (await (await fetch(`${h.url}/cluster/nodes`)).json()) as { nodes: Array<{ self: boolean; addrs: string[] }> }
    return nodes.find((n) => n.self)?.addrs[0]
  })
}

/** Until the daemon holds a fresh state from the hostile peer (so it routes the peer's models there). */
async function seesHostile(h: HerdProcess): Promise<void> {
  await waitFor('the hostile peer in /cluster/nodes', async () => {
    const { nodes } = (await (await fetch(`${h.url}/cluster/nodes`)).json()) as { nodes: Array<{ name: string; fresh: boolean }> }
    return nodes.some((n) => n.name === 'hostile' && n.fresh)
  })
}

const chat = (h: HerdProcess, model: string, signal = AbortSignal.timeout(10_000)): Promise<Response> =>
  fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    signal,
  })

/** Warn lines the daemon logged for refused peer behaviour, by kind. */
function refusalWarnings(output: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    const rec = JSON.parse(line) as { level?: number; refused?: string }
    if (rec.level === 40 && rec.refused !== undefined) out[rec.refused] = (out[rec.refused] ?? 0) + 1
  }
  return out
}

let dir: string
let secretFile: string
let fakeLlama: string
let fakeModel: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-hostile-'))
  secretFile = join(dir, 'cluster.key')
  await writeFile(secretFile, generateSwarmKey(), { mode: 0o600 })
  fakeLlama = await makeFakeLlamaBinary(join(dir, 'bin'), { FAKE_TOKEN_RATE: 0 })
  fakeModel = await makeFakeModel(dir)
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function daemon(http: Record<string, unknown> = {}, llama = fakeLlama): Promise<HerdProcess> {
  return startHerd({
    cookbook: { models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: fakeModel }] }] },
    config: {
      node: { name: 'under-test' },
      llama: { server: llama },
      log_level: 'info',
      http,
      mesh: {
        enabled: true,
        mdns: false,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        secret_file: secretFile,
        gossip_interval_ms: 200,
        peer_timeout_ms: PEER_TIMEOUT_MS,
      },
    },
  })
}

describe('a daemon attacked by a peer holding the secret', () => {
  let h: HerdProcess
  let hostile: Hostile

  beforeAll(async () => {
    h = await daemon()
    hostile = await startHostile(readFileSync(secretFile, 'utf8'), await meshAddress(h))
    await seesHostile(h)
  })

  afterAll(async () => {
    await hostile?.stop()
    await h?.dispose()
  })

  it('keeps serving, stays bounded in memory, never crashes, and logs each refusal once', async () => {
    const pid = h.child.pid!
    for (let i = 0; i < 3; i++) expect((await chat(h, 'tiny')).status).toBe(200)
    expect(await hostile.call('good', { model: 'tiny' })).toMatchObject({ kind: 'head', status: 200, end: { ok: true } })
    const baseline = rssMb(pid)
    let peak = baseline
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid))
    }, 25)
    // Good requests from a client all along.
    let serving = true
    const statuses: number[] = []
    const loop = (async () => {
      while (serving) statuses.push((await chat(h, 'tiny').catch(() => ({ status: 0 }))).status)
    })()
    const phase = (name: string): void => verbose(`after ${name}: RSS ${rssMb(pid).toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB`)
    try {
      expect(await hostile.call('oversized', { bodyLength: 17 * MIB })).toMatchObject({ kind: 'end', code: 'body_too_large' })
      expect(await hostile.call('hops0')).toMatchObject({ kind: 'reset' })
      const malformed = await hostile.call<Array<{ kind: string }>>('malformed')
      expect(malformed.map((m) => m.kind)).toEqual(malformed.map(() => 'reset'))
      const truncated = await hostile.call<{ ms: number }>('truncated')
      verbose(`truncated head refused after ${truncated.ms} ms (peer_timeout_ms ${PEER_TIMEOUT_MS})`)
      expect(truncated.ms).toBeGreaterThanOrEqual(PEER_TIMEOUT_MS - 100)
      expect(truncated.ms).toBeLessThan(PEER_TIMEOUT_MS + 2000)
      const flood = await hostile.call<{ opened: number; held: number }>('flood', { count: 500 })
      verbose(`stream flood: ${JSON.stringify(flood)}`)
      expect(flood.held).toBeLessThanOrEqual(64)
      phase('flood')
      const bodies = await hostile.call<Record<string, number>>('bodies', { count: 64, size: 15 * MIB })
      verbose(`64 bodies of 15 MiB: ${JSON.stringify(bodies)}`)
      expect(bodies['end:queue_full']).toBeGreaterThanOrEqual(56)
      phase('bodies')
      expect(await hostile.call('good', { model: 'tiny' })).toMatchObject({ kind: 'head', status: 200, end: { ok: true } })
      const gossip = await hostile.call('gossipFlood', { peers: 10_000, times: 10, everyMs: 100 })
      verbose(`gossip flood: ${JSON.stringify(gossip)}`)
      phase('gossip flood')
      expect(await hostile.call('good', { model: 'tiny' })).toMatchObject({ kind: 'head', status: 200, end: { ok: true } })
    } finally {
      serving = false
      await loop
      clearInterval(sampler)
    }
    const hwm = rssMb(pid, 'VmHWM')
    verbose(
      `daemon RSS: ${baseline.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB sampled (VmHWM ${hwm.toFixed(0)} MiB), ${statuses.length} good requests meanwhile`,
    )
    expect(h.child.exitCode).toBeNull()
    expect(statuses.length).toBeGreaterThan(5)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(peak - baseline).toBeLessThan(150)
    const warned = refusalWarnings(h.output())
    verbose(`warned: ${JSON.stringify(warned)}`)
    for (const kind of ['body_too_large', 'bad_head', 'bad_frame', 'frame_too_large', 'frame_timeout', 'stream_limit', 'buffer_full', 'bad_state']) {
      expect(warned[kind], kind).toBe(1)
    }
  })

  it('answers its own clients properly when the peer serves badly', async () => {
    const crlf = await chat(h, 'crlf')
    expect(crlf.status).toBe(200)
    expect(await crlf.json()).toEqual({ ok: 'crlf' })
    expect(crlf.headers.get('x-injected')).toBeNull()
    expect(crlf.headers.get('set-cookie')).toBeNull()
    expect(crlf.headers.get('x-herd-node')).toBe('hostile')

    // A content-length that does not match the body: the client gets the body, not a hang.
    const lying = await chat(h, 'lying', AbortSignal.timeout(3000))
    expect(lying.status).toBe(200)
    expect(await lying.text()).toBe('{"ok":"lying"}')

    const before = rssMb(h.child.pid!)
    let t0 = Date.now()
    const huge = await chat(h, 'huge', AbortSignal.timeout(10_000))
    const hugeBody = await huge.text()
    verbose(
      `64 MiB error body: answered ${huge.status} with ${hugeBody.length} bytes after ${Date.now() - t0} ms; RSS ${before.toFixed(0)} -> ${rssMb(h.child.pid!).toFixed(0)} MiB`,
    )
    expect(huge.status).toBe(503)
    expect(hugeBody.length).toBeLessThan(4096)
    expect((JSON.parse(hugeBody) as { error: { code: string } }).error.code).toBe('queue_full')
    expect(rssMb(h.child.pid!) - before).toBeLessThan(100)

    t0 = Date.now()
    const endless = await chat(h, 'endless', AbortSignal.timeout(10_000))
    const endlessBody = (await endless.json()) as { error: { code: string } }
    verbose(`endless error body: answered ${endless.status} after ${Date.now() - t0} ms`)
    expect(endless.status).toBe(503)
    expect(endlessBody.error.code).toBe('no_capacity')
    expect(Date.now() - t0).toBeLessThan(5000)

    // And the good path still works.
    expect((await chat(h, 'tiny')).status).toBe(200)
    expect(h.child.exitCode).toBeNull()
  })
})

describe('SIGTERM with peer-served streams open', () => {
  it('exits within drain_timeout_ms + 5 s, and a request the peer forwarded here finishes in the grace', async () => {
    const drainMs = 1500
    // 20 tokens a second: a forwarded request for 20 tokens is in flight for about a second.
    const slow = await makeFakeLlamaBinary(join(dir, 'slow'), { FAKE_TOKEN_RATE: 20 })
    const h = await daemon({ drain_timeout_ms: drainMs }, slow)
    let hostile: Hostile | undefined
    try {
      hostile = await startHostile(readFileSync(secretFile, 'utf8'), await meshAddress(h))
      await seesHostile(h)
      expect((await chat(h, 'tiny')).status).toBe(200)
      // Our client's answer, streamed by the peer for ever: app.close() alone would wait on it.
      const endless = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'stream', stream: true, messages: [] }),
      })
      expect(endless.status).toBe(200)
      const reader = endless.body!.getReader()
      await reader.read()
      const forwarded = hostile.call<{ status: number; end: unknown; bytes: number }>('good', { model: 'tiny', maxTokens: 20 })
      await waitFor('the forwarded request to occupy a slot', async () => {
        const { instances } = (await (await fetch(`${h.url}/admin/instances`)).json()) as { instances: Array<{ busy: number }> }
        return instances.some((i) => i.busy > 0)
      })
      const t0 = Date.now()
      h.child.kill('SIGTERM')
      const code = await h.waitExit(drainMs + 10_000)
      const ms = Date.now() - t0
      verbose(`SIGTERM to exit: ${ms} ms (drain_timeout_ms ${drainMs}), exit code ${code}`)
      expect(code).toBe(0)
      expect(ms).toBeLessThan(drainMs + 5000)
      // Peer-served requests count in the drain: it finished, end frame and all.
      expect(await forwarded).toMatchObject({ status: 200, end: { ok: true } })
      // Our own client's endless answer was cut when the grace ran out.
      await expect(
        (async () => {
          for (;;) if ((await reader.read()).done) return
        })(),
      ).rejects.toThrow()
    } finally {
      await hostile?.stop()
      await h.dispose()
    }
  })
})
