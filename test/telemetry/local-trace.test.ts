/**
 * A request served on the node the client asked: the real buildApp and Router (bench's
 * herd proxy: a fake lease on a fake llama-server), tracing to a receiver in this process.
 * The queue and upstream spans hang off the route span, and the body span ends with the
 * last byte.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFakeUpstream } from '../../bench/lib/fake-upstream.ts'
import { startHerdProxy } from '../../bench/lib/herd-proxy-server.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { waitFor } from '../helpers/poll.ts'

const TRACE = '0af7651916cd43dd8448eb211c80319c'
const CLIENT_SPAN = 'b7ad6b7169203331'
let upstream: Server
let receiver: OtlpReceiver
let herd: { url: string; close: () => Promise<void> }

beforeAll(async () => {
  upstream = createFakeUpstream({ events: 4 })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  receiver = await startOtlpReceiver()
  herd = await startHerdProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, undefined, receiver.url)
})

afterAll(async () => {
  await herd?.close()
  await receiver?.close()
  upstream?.closeAllConnections()
  await new Promise<void>((resolve) => upstream?.close(() => resolve()))
})

describe('a request served where it arrived', () => {
  it('traces receive → route → queue, upstream and its body, under the client traceparent', async () => {
    const res = await fetch(`${herd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` },
      body: JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: 'a private prompt' }] }),
    })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('[DONE]')
    const spans = await waitFor('five spans of the trace', () => {
      const mine = receiver.spans.filter((s) => s.traceId === TRACE)
      return mine.length >= 5 && mine
    })
    const by = (name: string): ReceivedSpan => spans.find((s) => s.name === name)!
    const [receive, route, queue, upstreamSpan, body] = ['herd.receive', 'herd.route', 'herd.queue', 'herd.upstream', 'herd.upstream.body'].map(
      by,
    ) as ReceivedSpan[]
    expect(receive!.parentSpanId).toBe(CLIENT_SPAN)
    expect(route!.parentSpanId).toBe(receive!.spanId)
    for (const child of [queue!, upstreamSpan!, body!]) expect(child.parentSpanId).toBe(route!.spanId)
    expect(route!.attributes).toMatchObject({ 'herd.route.candidates': ['bench:0'], 'herd.route.chosen': 'bench', 'herd.route.attempts': 1 })
    expect(queue!.attributes).toMatchObject({ 'herd.queue.waited': false, 'herd.instance.id': 'bench-1' })
    expect(upstreamSpan!.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'http.response.status_code': 200 })
    // First byte, then last: the body span follows the upstream span and ends before the client's.
    expect(body!.startNs).toBeGreaterThanOrEqual(upstreamSpan!.endNs)
    expect(body!.endNs).toBeLessThanOrEqual(receive!.endNs)
    expect(receive!.status).toBe(0)
    expect(spans.some((s) => s.name === 'herd.spawn' || s.name === 'herd.forward')).toBe(false)
    expect(JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('private prompt')
  })
})
