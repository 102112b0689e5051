import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createTracing, NO_TRACING, SPAN, type Tracing } from '../../src/telemetry/index.ts'
import { OnceLoggingExporter } from '../../src/telemetry/exporter.ts'
import { OtelTracing, tracesUrl } from '../../src/telemetry/tracing.ts'
import { NODE, ROOT } from '../helpers/herd-process.ts'
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts'
import { waitFor } from '../helpers/poll.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'
const silent = pino({ level: 'silent' })
const config = (endpoint: string | null) => ({ otlp_endpoint: endpoint, service_name: 'herd', sample_ratio: 1 })
const started: (Tracing | OtlpReceiver)[] = []

afterEach(async () => {
  for (const x of started.splice(0).reverse()) await ('stop' in x ? x.stop({ timeoutMs: 500 }) : x.close())
})

async function tracingTo(receiver: OtlpReceiver, logger = silent, ratio = 1): Promise<Tracing> {
  const tracing = await createTracing({ logger }, { ...config(receiver.url), sample_ratio: ratio }, { name: 'node-a', version: '1.2.3' })
  await tracing.start()
  started.push(tracing)
  return tracing
}

const request = (headers: Record<string, string | string[] | undefined> = {}) => ({ method: 'POST', url: '/v1/chat/completions?x=1', headers })

describe('tracing off', () => {
  it('is NO_TRACING: no span for a request, whatever it carries', async () => {
    const tracing = await createTracing({ logger: silent }, config(null), { name: 'n' })
    expect(tracing).toBe(NO_TRACING)
    expect(tracing.enabled).toBe(false)
    expect(tracing.receive(request({ traceparent: `00-${TRACE}-${PARENT}-01` }))).toBeUndefined()
    expect(tracing.receiveForwarded({ requestId: 'r', method: 'POST', path: '/v1/chat/completions', hops: 1, headers: {} })).toBeUndefined()
  })

  it('loads none of the OpenTelemetry packages with the daemon', () => {
    // Every module the daemon's import graph resolves, recorded by a resolve hook in a fresh process.
    const script = [
      "import { registerHooks } from 'node:module'",
      'const seen = []',
      'registerHooks({ resolve: (s, c, next) => { const r = next(s, c); seen.push(r.url); return r } })',
      "await import('./src/daemon.ts')",
      "await import('./src/telemetry/index.ts')",
      'process.stdout.write(JSON.stringify(seen))',
    ].join('\n')
    const out = execFileSync(NODE, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })
    const urls = JSON.parse(out) as string[]
    expect(urls.some((u) => u.includes('/src/telemetry/index.ts'))).toBe(true)
    // prom-client loads @opentelemetry/api itself (exemplars); the SDK, exporter and resources are ours.
    expect(urls.filter((u) => u.includes('@opentelemetry') && !u.includes('@opentelemetry/api/'))).toEqual([])
  })
})

describe('tracing on', () => {
  it('exports a request span with its children, the client traceparent as parent, and the node as resource', async () => {
    const receiver = await startOtlpReceiver()
    started.push(receiver)
    const tracing = await tracingTo(receiver)
    const span = tracing.receive(request({ traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc' }), performance.now() - 5)
    expect(span).toBeDefined()
    const route = span!.child(SPAN.route, { 'herd.model': 'm:default', 'herd.unset': undefined })
    const forward = route.child(SPAN.forward, {}, 'client')
    const headers = forward.propagation()
    expect(headers['traceparent']).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`))
    expect(headers['tracestate']).toBe('vendor=abc')
    forward.fail(Object.assign(new Error('a message that may quote a prompt'), { code: 'peer_unavailable' }))
    forward.end()
    route.end()
    span!.end()
    span!.end()

    const spans = await waitFor('three spans', () => receiver.spans.length >= 3 && receiver.spans)
    const byName = new Map(spans.map((s) => [s.name, s]))
    const receive = byName.get(SPAN.receive)!
    expect(receive).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, kind: 2 })
    expect(receive.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.path': '/v1/chat/completions' })
    expect(receive.resource).toMatchObject({ 'service.name': 'herd', 'service.instance.id': 'node-a', 'herd.node': 'node-a', 'service.version': '1.2.3' })
    expect(byName.get(SPAN.route)).toMatchObject({ parentSpanId: receive.spanId, attributes: { 'herd.model': 'm:default' } })
    expect(byName.get(SPAN.route)!.attributes).not.toHaveProperty('herd.unset')
    const fwd = byName.get(SPAN.forward)!
    expect(fwd).toMatchObject({ parentSpanId: byName.get(SPAN.route)!.spanId, kind: 3, status: 2, attributes: { 'error.type': 'peer_unavailable' } })
    expect(headers['traceparent']).toContain(fwd.spanId)
    expect(JSON.stringify(spans, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('quote a prompt')
    expect(receiver.spans).toHaveLength(3)
  })

  it('starts a trace of its own for a hostile traceparent from a client or a peer', async () => {
    const receiver = await startOtlpReceiver()
    started.push(receiver)
    const tracing = await tracingTo(receiver)
    const bad = [`00-${TRACE}-${PARENT}-01-extra`, [`00-${TRACE}-${PARENT}-01`, 'x'], 'x'.repeat(100_000), `00-${'0'.repeat(32)}-${PARENT}-01`]
    for (const traceparent of bad) tracing.receive(request({ traceparent, tracestate: 'y'.repeat(100_000) }))?.end()
    tracing.receiveForwarded({ requestId: 'r1', method: 'POST', path: '/v1/chat/completions', hops: 1, headers: { traceparent: '00-zz' } })?.end()
    const spans = await waitFor('five spans', () => receiver.spans.length >= 5 && receiver.spans)
    expect(spans.every((s) => s.parentSpanId === '' && s.traceId !== TRACE)).toBe(true)
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(5)
    expect(spans.find((s) => s.name === SPAN.receiveForwarded)?.attributes).toMatchObject({ 'herd.hops': 1, 'herd.request_id': 'r1' })
  })

  it('keeps no new trace at sample ratio 0, but follows a sampled caller', async () => {
    const receiver = await startOtlpReceiver()
    started.push(receiver)
    const tracing = await tracingTo(receiver, silent, 0)
    tracing.receive(request())?.end()
    const followed = tracing.receive(request({ traceparent: `00-${TRACE}-${PARENT}-01` }))
    // Not sampled: the next hop hears so, and nothing is exported for it.
    const unsampled = tracing.receive(request())
    expect(unsampled?.propagation()['traceparent']).toMatch(/-00$/)
    unsampled?.end()
    followed?.end()
    await waitFor('the followed span', () => receiver.spans.length >= 1)
    await tracing.stop({ timeoutMs: 1000 })
    expect(receiver.spans.map((s) => s.traceId)).toEqual([TRACE])
  })

  it('warns of an unreachable collector, and stops within its bound', async () => {
    // A port nobody listens on.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const lines: { level: number; msg: string }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) })
    // The exporter retries within its timeout: a short one makes the batch fail fast.
    const tracing = new OtelTracing(
      { logger },
      { endpoint: `http://user:pw@127.0.0.1:${port}/base/`, nodeName: 'n', exportTimeoutMs: 200, scheduledDelayMs: 20 },
    )
    await tracing.start()
    started.push(tracing)
    tracing.receive(request())?.end()
    await waitFor('the export failure', () => lines.some((l) => l.level === 40), { timeoutMs: 5000 })
    tracing.receive(request())?.end()
    const t0 = Date.now()
    await tracing.stop({ timeoutMs: 1000 })
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([expect.stringMatching(/trace export failed/)])
    // The endpoint is logged without its credentials.
    expect(JSON.stringify(lines)).toContain(`127.0.0.1:${port}/base/v1/traces`)
    expect(JSON.stringify(lines)).not.toContain('pw@')
    expect(tracing.receive(request())).toBeUndefined()
  })
})

describe('OnceLoggingExporter', () => {
  it('warns once per outage and says when exports work again', async () => {
    const lines: { level: number; msg: string }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) })
    const outcomes = [1, 1, 1, 0, 1, 1]
    const inner = {
      export: (_spans: unknown[], done: (r: { code: number; error?: Error }) => void) =>
        done({ code: outcomes.shift() ?? 0, error: new Error('ECONNREFUSED') }),
      shutdown: () => Promise.resolve(),
    }
    const exporter = new OnceLoggingExporter(inner as never, logger, 'http://c/v1/traces')
    const results: number[] = []
    for (let i = 0; i < 6; i++) exporter.export([], (r) => results.push(r.code))
    expect(results).toEqual([1, 1, 1, 0, 1, 1])
    expect(lines.map((l) => [l.level, l.msg.slice(0, 22)])).toEqual([
      [40, 'trace export failed; s'],
      [30, 'trace export works aga'],
      [40, 'trace export failed; s'],
    ])
  })
})

describe('tracesUrl', () => {
  it('appends /v1/traces to a base URL and leaves a full one alone', () => {
    expect(tracesUrl('http://c:4318')).toBe('http://c:4318/v1/traces')
    expect(tracesUrl('http://c:4318/otlp/')).toBe('http://c:4318/otlp/v1/traces')
    expect(tracesUrl('https://c/v1/traces')).toBe('https://c/v1/traces')
  })
})
