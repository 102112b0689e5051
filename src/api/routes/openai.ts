/**
 * The endpoints routed by model (OpenAI's, Anthropic's, llama-server's own; the table is
 * endpoints.ts): validate, resolve the model, hand the request to the router, relay the
 * answer. A client disconnect aborts one controller that cancels the peer stream or the
 * upstream request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ENDPOINTS } from '../endpoints.ts'
import { prepareRoute } from '../prepare.ts'
import { relay } from '../relay.ts'
import { admitTenant } from '../tenant-gate.ts'
import type { ApiDeps } from '../app.ts'
import { completeMessages, completeResponses } from '../../protocols/index.ts'
import type { Endpoint, UpstreamResponse } from '../../router/types.ts'

export function openaiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  for (const [endpoint, spec] of Object.entries(ENDPOINTS) as [Endpoint, (typeof ENDPOINTS)[Endpoint]][]) {
    for (const path of spec.paths) {
      app.route({
        method: spec.method,
        url: path,
        config: { auth: 'key', endpoint, errorShape: spec.errorShape },
        handler: (request, reply) => serve(deps, endpoint, request, reply),
      })
    }
  }
}

async function serve(deps: ApiDeps, endpoint: Endpoint, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const controller = new AbortController()
  const abort = (): void => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'))
  }
  reply.raw.once('close', abort)
  const started = performance.now()
  const route = prepareRoute(deps.catalog, {
    endpoint,
    body: (request.body as Buffer | undefined) ?? Buffer.alloc(0),
    query: request.query as Record<string, unknown>,
    requestId: request.id,
    hops: 0,
    accept: request.headers.accept,
    signal: controller.signal,
  })
  request.herdProfile = route.profileId
  // A tenant key's models and limits, checked before routing (and its answer metered).
  const tenancy = admitTenant(deps.tenants, request, reply, route)
  deps.metrics.inFlight.inc()
  let res: UpstreamResponse
  try {
    res = await deps.router.route(tenancy.route)
  } catch (err: unknown) {
    // Counted in herd_requests_total by the error handler, like every refusal.
    deps.metrics.inFlight.dec()
    tenancy.failed()
    throw err
  }
  // llama-server's Responses events lack fields strict clients require; filled in once, on the client's node.
  if (endpoint === 'responses') res = completeResponses(res, { model: route.profileId })
  // …and its Messages stream may open without message_start (see protocols/messages-stream.ts).
  if (endpoint === 'messages') res = completeMessages(res, { model: route.profileId })
  res = tenancy.meter(res)
  deps.metrics.ttfb.observe({ endpoint, served_by: res.servedBy }, (performance.now() - started) / 1000)
  request.log.info({ model: route.profileId, served_by: res.servedBy, status: res.status, stream: route.stream }, 'routed')
  return relay(reply, res, (err) => {
    deps.metrics.inFlight.dec()
    deps.metrics.requests.inc({ endpoint, model: route.profileId, status: err ? 'aborted' : String(res.status) })
    if (err) request.log.warn({ err: err.message }, 'response ended early')
  })
}
