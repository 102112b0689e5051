/**
 * Tenant keys across three daemons (fake llama-server, explicit peers on loopback): a key
 * made on A works on C, a key revoked on B is refused on A, both within two heartbeats; a
 * node that was down while keys changed catches up when it rejoins; and a key's rate limit
 * holds mesh-wide, hammered through all three nodes at once, within the stated overshoot
 * (requests admitted during the counter gossip lag).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { makeFakeLlamaBinary, makeFakeModel } from '../fixtures/fake-llama.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'
import type { ClusterNode } from '../helpers/ns-herd.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

const ADMIN = 'mesh-admin-key'
const HEARTBEAT_MS = 500
const WINDOW_MS = 6000
const COUNTER_PUSH_MS = 50
let dir: string
let server: string
let model: string
const nodes = new Map<string, HerdProcess>()

function cookbook(): unknown {
  return { models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: model, llama_server_args: '-np 8' }] }] }
}

async function node(name: string, peers: string[], home?: string): Promise<HerdProcess> {
  const h = await startHerd({
    cookbook: cookbook(),
    ...(home === undefined ? {} : { home }),
    config: {
      node: { name },
      llama: { server },
      http: { admin_keys: [ADMIN] },
      tenants: { rate_window_ms: WINDOW_MS, counter_push_ms: COUNTER_PUSH_MS },
      mesh: loopbackMesh(join(dir, 'cluster.key'), peers, { gossip_interval_ms: HEARTBEAT_MS, peer_timeout_ms: 3000 }),
    },
  })
  nodes.set(name, h)
  return h
}

const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }
async function api<T>(h: HerdProcess, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(h.url + path, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}
const createKey = (h: HerdProcess, body: Record<string, unknown>) => api<{ key: { id: string }; secret: string }>(h, 'POST', '/admin/keys', body)
/** The status a node answers a cheap request under `secret` with. */
const statusWith = async (h: HerdProcess, secret: string): Promise<number> => {
  const res = await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } })
  await res.arrayBuffer()
  return res.status
}
async function selfAddress(h: HerdProcess): Promise<string> {
  const { nodes: list } = await api<{ nodes: ClusterNode[] }>(h, 'GET', '/cluster/nodes')
  const addr = list.find((n) => n.self)?.addrs[0]
  if (addr === undefined) throw new Error('no mesh address')
  return addr
}
const freshPeers = async (h: HerdProcess): Promise<number> =>
  (await api<{ nodes: ClusterNode[] }>(h, 'GET', '/cluster/nodes')).nodes.filter((n) => !n.self && n.fresh).length

/** Polls until `check` holds; returns the milliseconds it took. */
async function timeUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const start = performance.now()
  await waitFor(what, async () => (await check()) || undefined, { timeoutMs, intervalMs: 5 })
  return performance.now() - start
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-tenants-mesh-'))
  server = await makeFakeLlamaBinary(dir, { FAKE_TOKEN_RATE: 0 })
  model = await makeFakeModel(dir)
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
  const a = await node('a', [])
  const addr = await selfAddress(a)
  await Promise.all([node('b', [addr]), node('c', [addr])])
  for (const h of nodes.values()) await waitFor(`${h.url} to see two peers`, async () => (await freshPeers(h)) === 2 || undefined, { timeoutMs: 15_000 })
}, 60_000)

afterAll(async () => {
  await Promise.all([...nodes.values()].map((h) => h.dispose()))
  await rm(dir, { recursive: true, force: true })
})

const at = (name: string): HerdProcess => nodes.get(name) as HerdProcess

describe('tenant keys across the mesh', () => {
  it('accepts on C a key made on A within two heartbeats, and refuses on A a key revoked on B as fast', async () => {
    const { key, secret } = await createKey(at('a'), { name: 'roaming' })
    const replicated = await timeUntil('C to accept the key', async () => (await statusWith(at('c'), secret)) === 200, 2 * HEARTBEAT_MS)
    const chat = await fetch(`${at('c').url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
    })
    expect(chat.status).toBe(200)
    await chat.arrayBuffer()
    await waitFor('B to hold the key', async () => (await statusWith(at('b'), secret)) === 200 || undefined)
    await api(at('b'), 'DELETE', `/admin/keys/${key.id}`)
    const revoked = await timeUntil('A to refuse the revoked key', async () => (await statusWith(at('a'), secret)) === 401, 2 * HEARTBEAT_MS)
    console.log(
      `replication: made on A, accepted on C after ${replicated.toFixed(0)} ms; revoked on B, refused on A after ${revoked.toFixed(0)} ms (heartbeat ${HEARTBEAT_MS} ms)`,
    )
  })

  it('brings a node that was down while keys changed up to date when it rejoins', async () => {
    const old = await createKey(at('a'), { name: 'old' })
    await waitFor('C to hold the old key', async () => (await statusWith(at('c'), old.secret)) === 200 || undefined)
    const c = at('c')
    await c.stop()
    // While C is away: a key made on A, one revoked on B, one changed on A.
    const made = await createKey(at('a'), { name: 'made-while-away' })
    const changed = await createKey(at('a'), { name: 'changed-while-away', models: ['tiny'] })
    await waitFor('B to hold the key to revoke', async () => (await statusWith(at('b'), old.secret)) === 200 || undefined)
    await api(at('b'), 'DELETE', `/admin/keys/${old.key.id}`)
    await waitFor('B to hold the key to change', async () => (await statusWith(at('b'), changed.secret)) === 200 || undefined)
    await api(at('a'), 'PATCH', `/admin/keys/${changed.key.id}`, { models: ['nothing-*'] })
    const back = await node('c', [await selfAddress(at('a'))], c.home)
    const caughtUp = await timeUntil(
      'the returning C to know every change',
      async () => {
        if ((await statusWith(back, made.secret)) !== 200 || (await statusWith(back, old.secret)) !== 401) return false
        const { key } = await api<{ key: { version: number; models: string[] } }>(back, 'GET', `/admin/keys/${changed.key.id}`).catch(() => ({
          key: { version: 0, models: [] },
        }))
        return key.version === 2 && key.models[0] === 'nothing-*'
      },
      15_000,
    )
    console.log(`catch-up: C knew all three changes ${caughtUp.toFixed(0)} ms after it was ready again`)
    await waitFor('C to see two peers again', async () => (await freshPeers(back)) === 2 || undefined, { timeoutMs: 15_000 })
  })

  it('holds a 60-per-window limit hammered through three nodes at once, within the overshoot bound', { timeout: 60_000 }, async () => {
    const LIMIT = 60
    const { secret } = await createKey(at('a'), { name: 'hammered', rpm: LIMIT })
    for (const h of nodes.values()) await waitFor(`${h.url} to hold the key`, async () => (await statusWith(h, secret)) === 200 || undefined)
    // Hammer for one window less one bucket from the first request: no admitted request's bucket can leave the window in that span.
    const span = WINDOW_MS - WINDOW_MS / 12
    const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })
    const start = performance.now()
    const ok: number[] = []
    let refused = 0
    let other = 0
    const worker = async (h: HerdProcess): Promise<void> => {
      while (performance.now() - start < span) {
        const res = await fetch(`${h.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body,
        })
        await res.arrayBuffer()
        if (res.status === 200) ok.push(performance.now() - start)
        else if (res.status === 429) refused++
        else other++
      }
    }
    await Promise.all([...nodes.values()].flatMap((h) => [worker(h), worker(h), worker(h), worker(h)]))
    // The stated bound: what the mesh admits during one gossip lag (counter push delay + transit; 50 ms slack for transit and busy event loops).
    const t60 = (ok[LIMIT - 1] ?? span) / 1000
    const rate = LIMIT / t60
    const bound = Math.ceil(rate * ((COUNTER_PUSH_MS + 50) / 1000))
    console.log(
      `overshoot: ${ok.length} admitted for a limit of ${LIMIT} (overshoot ${ok.length - LIMIT}); ${refused} refused, ${other} other; ` +
        `admission rate before the limit ${rate.toFixed(0)}/s, stated bound ${bound} (rate × ${COUNTER_PUSH_MS + 50} ms)`,
    )
    expect(other).toBe(0)
    expect(ok.length).toBeGreaterThanOrEqual(LIMIT)
    expect(ok.length).toBeLessThanOrEqual(LIMIT + bound)
  })
})
