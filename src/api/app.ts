/**
 * buildApp(deps): the whole HTTP surface, separate from listen() so tests drive it with
 * app.inject() and no port.
 */
import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Converter } from '../backends/index.ts'
import type { ResponseCache } from '../cache/index.ts'
import type { InstanceSnapshot } from '../instances/types.ts'
import type { ModelCatalog } from '../router/catalog.ts'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import type { Tenant, Tenants } from '../tenants/index.ts'
import { uiRoutes } from '../ui/index.ts'
import type { RemoteAdminRequest } from './admin-mesh.ts'
import type { Tracing } from '../telemetry/index.ts'
import { authorize, installAuth, type AuthKeys } from './auth.ts'
import { installBodyParser } from './body.ts'
import { requestLogger } from './request-logger.ts'
import { installCors } from './cors.ts'
import { clientErrorHandler, installErrorHandling, sendError, type ErrorReplyDeps } from './errors.ts'
import type { LoadingInit } from './loading.ts'
import type { Metrics } from './metrics.ts'
import { adminRoutes } from './routes/admin.ts'
import { backendRoutes, type BackendAdmin } from './routes/backends.ts'
import { clusterRoutes } from './routes/cluster.ts'
import { keyRoutes } from './routes/keys.ts'
import { usageRoutes } from './routes/usage.ts'
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
  /** `http.admin_keys`: with any set, only they pass admin routes. */
  adminKeys?: readonly string[]
  /** Tenant keys: checked at authentication and before routing; `/admin/keys` manages them. Absent: no tenant keys. */
  tenants?: Tenants
  /** `tenants.currency`: what `/admin/usage` counts spend in. @default usd */
  currency?: string
  /** `http.metrics_auth`: /metrics needs a key too (default: open, for scrapers). */
  metricsAuth?: boolean
  /** `http.cors_origins`: browser origins allowed to call the API. Default: none. */
  corsOrigins?: readonly string[]
  /** `http.tls`, read: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN). */
  tls?: { cert: Buffer; key: Buffer }
  version: { herd: string; llama: () => string | null }
  /** When a waiting streaming request starts hearing SSE comments, and how often (loading.ts). */
  loading?: LoadingInit
  router: { route(req: RouteRequest): Promise<UpstreamResponse> }
  /** `cache.*`: the response cache in front of the router. Absent: none. */
  cache?: ResponseCache
  catalog: ModelCatalog
  /** OpenAI ⇄ Anthropic conversion, the same the backends are given: which endpoints a backend model serves, and whether a request converts. */
  convert?: Converter
  metrics: Metrics
  /** Spans for requests (telemetry); absent or NO_TRACING: none. */
  tracing?: Tracing
  health: () => HealthView
  cluster: () => unknown[]
  /** GET /cluster/inventory: every model in the mesh with its GGUF facts (inventory/). Absent: an empty inventory. */
  inventory?: () => unknown
  admin: {
    servesLocally(profileId: string): boolean
    prewarm(profileId: string, options: { signal: AbortSignal }): Promise<void>
    unload(profileId: string | undefined): Promise<number>
    instances(): InstanceSnapshot[]
    logs(instanceId: string | undefined): { instanceId: string; lines: string[] }[]
    /** `/admin/backends` (absent: the node runs none, and says so). */
    backends?: BackendAdmin
    /** Whether a `node` parameter names this node (absent: every name does; there is no mesh). */
    isSelf?: (node: string) => boolean
    /** Another node's answer to an admin request, over the mesh (api/admin-mesh.ts). */
    remote?: (node: string, req: RemoteAdminRequest) => Promise<unknown>
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function buildApp(deps: ApiDeps): FastifyInstance {
  const tenants = deps.tenants
  const errorDeps: ErrorReplyDeps = {
    nodeName: deps.nodeName,
    metrics: deps.metrics,
    ...(tenants === undefined ? {} : { rateHeaders: (tenant: Tenant) => tenants.headers(tenant) }),
  }
  const keys: AuthKeys = { apiKeys: deps.apiKeys, adminKeys: deps.adminKeys ?? [], ...(deps.tenants === undefined ? {} : { tenants: deps.tenants }) }
  const app = Fastify({
    // Typed as nothing: fastify's HTTP/2 overload would retype every route module.
    ...(serverOptions(deps.tls) as object),
    // pino's Logger is a FastifyBaseLogger; the cast keeps FastifyInstance's default generics for the route modules.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    // Our own per-request lines (routed / ended early) carry what matters; fastify's are noise.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    // request.log's pino child is made on its first line, not on every request.
    childLoggerFactory: requestLogger,
    // Keep a client's own request id when it is sane, so its logs and ours line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    return503OnClosing: false,
    // Clients joining a base URL and a path often send `//` or a trailing `/`. Paths stay
    // case-sensitive: model ids in /v1/models/{id} are.
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true },
    // A malformed URL fails before routing and before any hook: answer it like everything
    // else, and without a key say only 401 (what is behind a bad URL is nobody's business).
    frameworkErrors: (err, request, reply) => {
      try {
        authorize(request, keys)
      } catch (denied: unknown) {
        return sendError(request, reply, denied, errorDeps)
      }
      return sendError(request, reply, err, errorDeps)
    },
    // Requests Node's HTTP parser refuses, before fastify sees them.
    clientErrorHandler: clientErrorHandler(errorDeps),
  })
  installBodyParser(app, deps.bodyLimitBytes)
  installErrorHandling(app, errorDeps)
  // Hooks on every request are callback-style: an async one costs a promise and a tick per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    reply.header('x-herd-node', deps.nodeName)
    done()
  })
  installCors(app, deps.corsOrigins ?? [])
  installAuth(app, keys)
  openaiRoutes(app, deps)
  modelRoutes(app, deps)
  opsRoutes(app, deps)
  adminRoutes(app, deps)
  backendRoutes(app, deps)
  if (deps.tenants !== undefined) {
    keyRoutes(app, deps.tenants, { adminConfigured: deps.apiKeys.length > 0 || (deps.adminKeys ?? []).length > 0 })
    usageRoutes(app, deps.tenants, { currency: deps.currency ?? 'usd' })
  }
  clusterRoutes(app, deps)
  uiRoutes(app)
  return app
}

/**
 * Plain HTTP, or with `tls` HTTPS that speaks HTTP/2 to clients offering it by ALPN and
 * HTTP/1.1 to the rest (most SDKs), on the one port.
 */
function serverOptions(tls: ApiDeps['tls']): { http2?: true; https?: { allowHTTP1: true; cert: Buffer; key: Buffer } } {
  return tls === undefined ? {} : { http2: true, https: { allowHTTP1: true, cert: tls.cert, key: tls.key } }
}
