/**
 * buildApp(deps): the whole HTTP surface, separate from listen() so tests drive it with
 * app.inject() and no port.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { HerdError } from '../errors/index.ts'
import type { InstanceSnapshot } from '../instances/types.ts'
import type { ModelCatalog } from '../router/catalog.ts'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import { installErrorHandling } from './errors.ts'
import type { Metrics } from './metrics.ts'
import { adminRoutes } from './routes/admin.ts'
import { clusterRoutes } from './routes/cluster.ts'
import { modelRoutes } from './routes/models.ts'
import { openaiRoutes } from './routes/openai.ts'
import { opsRoutes } from './routes/ops.ts'

export interface HealthView {
  ready: boolean
  draining: boolean
  /** A llama-server binary is available, so cold models can be started. */
  canSpawn: boolean
  reason?: string
}

export interface ApiDeps {
  logger: Logger
  nodeName: string
  bodyLimitBytes: number
  apiKeys: readonly string[]
  version: { herd: string; llama: () => string | null }
  router: { route(req: RouteRequest): Promise<UpstreamResponse> }
  catalog: ModelCatalog
  metrics: Metrics
  health: () => HealthView
  cluster: () => unknown[]
  admin: {
    servesLocally(profileId: string): boolean
    prewarm(profileId: string, options: { signal: AbortSignal }): Promise<void>
    unload(profileId: string | undefined): Promise<number>
    instances(): InstanceSnapshot[]
    logs(instanceId: string | undefined): { instanceId: string; lines: string[] }[]
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function buildApp(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps FastifyInstance's default generics for the route modules.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    // Our own per-request lines (routed / ended early) carry what matters; fastify's are noise.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    // Keep a client's own request id when it is sane, so its logs and ours line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    return503OnClosing: false,
  })
  // Bodies stay raw bytes: they are relayed verbatim; the handlers parse what they need.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  installErrorHandling(app, deps.metrics)
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    reply.header('x-herd-node', deps.nodeName)
    if (deps.apiKeys.length > 0 && (request.url.startsWith('/v1') || request.url.startsWith('/admin') || request.url.startsWith('/rerank'))) {
      authenticate(request.headers.authorization, request.headers['x-api-key'], deps.apiKeys)
    }
  })
  openaiRoutes(app, deps)
  modelRoutes(app, deps)
  opsRoutes(app, deps)
  adminRoutes(app, deps)
  clusterRoutes(app, deps)
  return app
}

function authenticate(authorization: string | undefined, apiKeyHeader: string | string[] | undefined, keys: readonly string[]): void {
  const bearer = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : undefined
  const given = bearer ?? (typeof apiKeyHeader === 'string' ? apiKeyHeader : undefined)
  if (given === undefined) throw new HerdError('unauthorized', 'missing API key: send Authorization: Bearer <key>')
  const g = Buffer.from(given)
  const ok = keys.some((k) => {
    const b = Buffer.from(k)
    return b.length === g.length && timingSafeEqual(b, g)
  })
  if (!ok) throw new HerdError('unauthorized', 'invalid API key')
}
