/**
 * Traces across the mesh: two real daemons on loopback, A serving nothing and B serving a
 * tiny real model, both exporting OTLP/HTTP to a receiver in this process. One request to
 * A yields one trace (the client's, from its traceparent) with A's receive → route →
 * forward spans and B's forwarded receive → queue → spawn → upstream spans, linked parent
 * to child across the hop; no prompt text and no key ends up in any span.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import type { ClusterNode } from '../helpers/ns-herd.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { waitFor } from '../helpers/poll.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

const KEY = 'sk-herd-traces-secret-key'
const PROMPT = 'zebra quartz pineapple'
let dir: string
let receiver: OtlpReceiver
let a: HerdProcess
let b: HerdProcess

function config(name: string, peers: string[]) {
  return {
    node: { name },
    telemetry: { otlp_endpoint: receiver.url, service_name: 'herd-test' },
    mesh: loopbackMesh(join(dir, 'cluster.key'), peers),
  }
}

async function address(h: HerdProcess): Promise<string> {
  const { nodes } = (await (await fetch(`${h.url}/cluster/nodes`)).json()) as { nodes: ClusterNode[] }
  const addr = nodes.find((n) => n.self)?.addrs[0]
  if (addr === undefined) throw new Error('no mesh address')
  return addr
}

function chat(traceparent: string | undefined, stream: boolean): Promise<Response> {
  return fetch(`${a.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...(traceparent === undefined ? {} : { traceparent }) },
    body: JSON.stringify({ model: 'tiny', stream, messages: [{ role: 'user', content: PROMPT }], max_tokens: 4 }),
  })
}

/** The spans of one trace, once every name in `names` has arrived. */
function traceWith(traceId: string, names: string[]): Promise<ReceivedSpan[]> {
  return waitFor(
    `spans ${names.join(', ')} of trace ${traceId}`,
    () => {
      const spans = receiver.spans.filter((s) => s.traceId === traceId)
      return names.every((n) => spans.some((s) => s.name === n)) && spans
    },
    { timeoutMs: 15_000 },
  )
}

function one(spans: ReceivedSpan[], name: string, node: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name && s.resource['herd.node'] === node)
  expect(found, `${name} on ${node}`).toHaveLength(1)
  return found[0]!
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-traces-'))
  receiver = await startOtlpReceiver()
  const model = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
  b = await startHerd({
    cookbook: { models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: model, llama_server_args: '-c 512 -t 1' }] }] },
    config: config('b', []),
  })
  a = await startHerd({ cookbook: { models: [] }, config: { ...config('a', [await address(b)]), http: { api_keys: [KEY] } } })
  await waitFor(
    'a to see the model b serves',
    async () => {
      const res = await fetch(`${a.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })
      const { data } = (await res.json()) as { data: { id: string; owned_by: string }[] }
      return data.some((m) => m.id === 'tiny' && m.owned_by === 'b')
    },
    { timeoutMs: 15_000 },
  )
}, 60_000)

afterAll(async () => {
  await Promise.all([a?.dispose(), b?.dispose()])
  await receiver?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('a request through two nodes', () => {
  it('is one trace, continuing the client traceparent, with spans from both nodes linked across the hop', async () => {
    const traceId = randomBytes(16).toString('hex')
    const clientSpan = randomBytes(8).toString('hex')
    const res = await chat(`00-${traceId}-${clientSpan}-01`, true)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-node')).toBe('b')
    expect(await res.text()).toContain('data: [DONE]')

    const names = ['herd.receive', 'herd.route', 'herd.forward', 'herd.forward.receive', 'herd.queue', 'herd.spawn', 'herd.upstream', 'herd.upstream.body']
    const spans = await traceWith(traceId, names)
    const receive = one(spans, 'herd.receive', 'a')
    const route = one(spans, 'herd.route', 'a')
    const forward = one(spans, 'herd.forward', 'a')
    const forwarded = one(spans, 'herd.forward.receive', 'b')
    const queue = one(spans, 'herd.queue', 'b')
    const spawn = one(spans, 'herd.spawn', 'b')
    const upstream = one(spans, 'herd.upstream', 'b')
    const body = one(spans, 'herd.upstream.body', 'b')

    // Parent → child, across the hop: B's first span hangs off A's forward span.
    expect(receive.parentSpanId).toBe(clientSpan)
    expect(route.parentSpanId).toBe(receive.spanId)
    expect(forward.parentSpanId).toBe(route.spanId)
    expect(forwarded.parentSpanId).toBe(forward.spanId)
    expect(queue.parentSpanId).toBe(forwarded.spanId)
    expect(spawn.parentSpanId).toBe(queue.spanId)
    expect(upstream.parentSpanId).toBe(forwarded.spanId)
    expect(body.parentSpanId).toBe(forwarded.spanId)

    // Kinds: server where a request arrives, client where one leaves.
    expect([receive.kind, forwarded.kind, forward.kind, upstream.kind]).toEqual([2, 2, 3, 3])
    expect(receive.resource['service.name']).toBe('herd-test')
    expect(receive.attributes).toMatchObject({ 'herd.model': 'tiny:default', 'herd.stream': true, 'http.response.status_code': 200, 'herd.served_by': 'b' })
    expect(route.attributes).toMatchObject({ 'herd.route.candidate_count': 1, 'herd.route.chosen': 'b', 'herd.route.attempts': 1 })
    expect(route.attributes['herd.route.candidates']).toEqual([expect.stringMatching(/^b:[0-3]$/)])
    expect(forward.attributes).toMatchObject({ 'herd.peer.name': 'b', 'herd.hops': 1 })
    expect(queue.attributes).toMatchObject({ 'herd.model': 'tiny:default', 'herd.queue.waited': true })
    expect(body.attributes['herd.tokens.completion']).toBeGreaterThan(0)
    // The steps nest in time too (one machine, one clock): B's work lies within A's forward span.
    expect(forwarded.startNs).toBeGreaterThanOrEqual(forward.startNs)
    expect(body.endNs).toBeLessThanOrEqual(receive.endNs + 5_000_000n)
    expect(spawn.endNs - spawn.startNs).toBeGreaterThan(0n)
    // Nothing a client wrote or holds goes on a span.
    const exported = JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))
    expect(exported).not.toContain(PROMPT)
    expect(exported).not.toContain(KEY)
  })

  it('a warm request waits for no spawn, and a malformed traceparent starts a trace of its own', async () => {
    const before = new Set(receiver.spans.map((s) => s.traceId))
    const res = await chat(`00-${'z'.repeat(32)}-${'1'.repeat(16)}-01`, false)
    expect(res.status).toBe(200)
    const root = await waitFor('a new root receive span', () =>
      receiver.spans.find((s) => s.name === 'herd.receive' && !before.has(s.traceId) && s.parentSpanId === ''),
    )
    const spans = await traceWith(root.traceId, ['herd.receive', 'herd.forward.receive', 'herd.upstream.body'])
    expect(spans.some((s) => s.name === 'herd.spawn')).toBe(false)
    expect(one(spans, 'herd.queue', 'b').attributes['herd.queue.waited']).toBe(false)
    expect(one(spans, 'herd.receive', 'a').attributes).toMatchObject({ 'herd.stream': false, 'http.response.status_code': 200 })
  })
})
