/**
 * bench:cache's app: the real buildApp (routes, auth, relay, cache) over a fake router that
 * answers at once, listening on loopback, and a client that asks it one request at a time.
 * With the upstream instant, a miss shows what herd adds around routing (the lookup, the
 * recording tee, the check at the end) and a hit what replaying costs.
 */
import { Readable } from 'node:stream'
import pino from 'pino'
import { Pool } from 'undici'
import { buildApp, Metrics } from '../../src/api/index.ts'
import type { ResponseCache } from '../../src/cache/index.ts'
import type { Cookbook, ProfileSpec } from '../../src/config/types.ts'
import { ModelCatalog } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import { percentile } from './stats.ts'

const PROFILE: ProfileSpec = {
  id: 'bench:default',
  model: 'bench',
  profile: 'default',
  description: undefined,
  modelPath: '/models/bench.gguf',
  args: [],
  capabilities: { completion: true, embeddings: false, rerank: false },
  idleTimeoutMs: 1000,
  startupTimeoutMs: 1000,
  maxInstances: 1,
  maxQueueSize: 4,
  maxWaitInQueueMs: 1000,
  estimatedVramMb: undefined,
  estimatedSysmemMb: undefined,
  launchHash: 'bench',
}
const COOKBOOK = { profiles: new Map([[PROFILE.id, PROFILE]]), names: new Map([['bench', PROFILE.id]]), defaultModel: PROFILE.id, sources: [] } as Cookbook

/** An answer like a short completion: `events` chunks of about `eventBytes` each (or one JSON body of the same text). */
export function fakeAnswer(stream: boolean, events: number, eventBytes: number): () => UpstreamResponse {
  const word = 'x'.repeat(Math.max(1, eventBytes - 60))
  const chunks = Array.from({ length: events }, (_, i) => Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":"${word}${i}"}}]}\n\n`))
  chunks.push(Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":32}}\n\ndata: [DONE]\n\n'))
  const json = Buffer.from(
    JSON.stringify({ id: 'c', choices: [{ message: { content: word.repeat(events) } }], usage: { prompt_tokens: 5, completion_tokens: 32 } }),
  )
  return () =>
    stream
      ? { status: 200, headers: { 'content-type': 'text/event-stream' }, body: Readable.from(chunks), servedBy: 'bench' }
      : { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([json]), servedBy: 'bench' }
}

export interface BenchApp {
  url: string
  routed: () => number
  close(): Promise<void>
}

export async function startBenchApp(answer: () => UpstreamResponse, cache: ResponseCache | undefined): Promise<BenchApp> {
  let routed = 0
  const app = buildApp({
    logger: pino({ level: 'silent' }),
    nodeName: 'bench',
    bodyLimitBytes: 1024 * 1024,
    apiKeys: [],
    version: { herd: 'bench', llama: () => null },
    router: {
      route: async (_req: RouteRequest) => {
        routed++
        return answer()
      },
    },
    ...(cache === undefined ? {} : { cache }),
    catalog: new ModelCatalog({ nodeName: 'bench', startedAt: 0, cookbook: () => COOKBOOK, peers: () => [] }),
    metrics: new Metrics({ load: () => [] }, { defaultMetrics: false }),
    health: () => ({ ready: true, draining: false, canSpawn: true }),
    cluster: () => [],
    admin: { servesLocally: () => true, prewarm: async () => {}, unload: async () => 0, instances: () => [], logs: () => [] },
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url, routed: () => routed, close: () => app.close() }
}

export interface Latency {
  requests: number
  p50: number
  p99: number
  mean: number
  /** x-herd-cache of the answers, counted. */
  states: Record<string, number>
}

/** `count` requests one after another (after `warmup` unmeasured), each body from `body(i)`; ms from send to the last body byte. */
export async function measure(url: string, body: (i: number) => string, count: number, warmup: number): Promise<Latency> {
  const pool = new Pool(url, { connections: 1, keepAliveTimeout: 60_000 })
  const times = new Float64Array(count)
  const states: Record<string, number> = {}
  try {
    for (let i = 0; i < warmup + count; i++) {
      const started = performance.now()
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: body(i) })
      await res.body.arrayBuffer()
      if (i < warmup) continue
      times[i - warmup] = performance.now() - started
      const state = String(res.headers['x-herd-cache'] ?? 'none')
      states[state] = (states[state] ?? 0) + 1
    }
  } finally {
    await pool.close()
  }
  const sorted = times.slice().sort()
  return { requests: count, p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: times.reduce((s, t) => s + t, 0) / count, states }
}
