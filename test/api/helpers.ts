/** Builders for api tests: a hand-made cookbook and an app over a fake router. */
import { Readable } from 'node:stream'
import pino, { type Logger } from 'pino'
import { buildApp, Metrics, type ApiDeps } from '../../src/api/index.ts'
import type { Cookbook, ProfileSpec } from '../../src/config/types.ts'
import type { BackendState } from '../../src/mesh/types.ts'
import { ModelCatalog, type RoutablePeer } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'

export function profile(id: string, over: Partial<ProfileSpec> = {}): ProfileSpec {
  const [model = id, prof = 'default'] = id.split(':')
  return {
    id,
    model,
    profile: prof,
    description: undefined,
    modelPath: '/models/x.gguf',
    args: [],
    capabilities: { completion: true, embeddings: false, rerank: false },
    idleTimeoutMs: 1000,
    startupTimeoutMs: 1000,
    maxInstances: 1,
    maxQueueSize: 4,
    maxWaitInQueueMs: 1000,
    estimatedVramMb: undefined,
    estimatedSysmemMb: undefined,
    launchHash: id,
    ...over,
  }
}

export function cookbook(profiles: ProfileSpec[], defaultModel?: string): Cookbook {
  const names = new Map<string, string>()
  for (const p of profiles) if (p.profile === 'default') names.set(p.model, p.id)
  return { profiles: new Map(profiles.map((p) => [p.id, p])), names, defaultModel, sources: ['test.yaml'] } as Cookbook
}

export function sse(events: string[]): UpstreamResponse {
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream' },
    body: Readable.from(events.map((e) => Buffer.from(`data: ${e}\n\n`))),
    servedBy: 'node-a',
  }
}

export function json(value: unknown, status = 200): UpstreamResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(JSON.stringify(value))]), servedBy: 'node-a' }
}

export function testApp(options: {
  cookbook: Cookbook
  route?: (req: RouteRequest) => Promise<UpstreamResponse>
  peers?: RoutablePeer[]
  /** This node's backends, as the catalog sees them. */
  backends?: BackendState[]
  apiKeys?: string[]
  bodyLimitBytes?: number
  logger?: Logger
  over?: Partial<ApiDeps>
}) {
  const seen: RouteRequest[] = []
  const metrics = new Metrics({ load: () => [] }, { defaultMetrics: false })
  const catalog = new ModelCatalog({
    nodeName: 'node-a',
    startedAt: 0,
    cookbook: () => options.cookbook,
    peers: () => options.peers ?? [],
    backends: () => options.backends ?? [],
  })
  const app = buildApp({
    logger: options.logger ?? pino({ level: 'silent' }),
    nodeName: 'node-a',
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    apiKeys: options.apiKeys ?? [],
    version: { herd: '0.0.0-test', llama: () => 'test' },
    router: {
      route: async (req) => {
        seen.push(req)
        return (options.route ?? (async () => json({ ok: true })))(req)
      },
    },
    catalog,
    metrics,
    health: () => ({ ready: true, draining: false, canSpawn: true }),
    cluster: () => [],
    admin: {
      servesLocally: (id) => options.cookbook.profiles.has(id),
      prewarm: async () => {},
      unload: async () => 0,
      instances: () => [],
      logs: () => [],
      backends: { views: () => [], register: async (body) => body, remove: async () => {} },
    },
    ...options.over,
  })
  return { app, seen, metrics }
}

/** A pino logger that keeps its lines, parsed, for assertions on levels and fields. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const logger = pino(
    { level: 'trace' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      },
    },
  )
  return { logger, lines }
}
