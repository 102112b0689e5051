/**
 * The endpoints routed by model (OpenAI's, Anthropic's, llama-server's own; the table is
 * endpoints.ts): validate, resolve the model, hand the request to the router, relay the
 * answer. A client disconnect aborts one controller that cancels the peer stream or the
 * upstream request. A streaming request that waits (cold start, queue) gets its head early,
 * with SSE comments saying why (loading.ts); its answer, or its error event, follows there.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ENDPOINTS, STREAMING } from '../endpoints.ts'
import { errorShapeOf, recordError } from '../errors.ts'
import { continueStream, failStream, LoadingStatus } from '../loading.ts'
import { prepareRoute } from '../prepare.ts'
import { relay, watchEnd } from '../relay.ts'
import { admitTenant } from '../tenant-gate.ts'
import type { ApiDeps } from '../app.ts'
import { cachedRoute } from '../cache.ts'
import { completeMessages, completeResponses } from '../../protocols/index.ts'
import type { Endpoint, UpstreamResponse } from '../../router/types.ts'
import { noEgressRequested, NO_EGRESS_HEADER } from '../../router/backend-target.ts'
import { endFailed, endReceive, withTrace } from '../../telemetry/index.ts'

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
  let route = prepareRoute(
    deps.catalog,
    {
      endpoint,
      body: (request.body as Buffer | undefined) ?? Buffer.alloc(0),
      query: request.query as Record<string, unknown>,
      requestId: request.id,
      hops: 0,
      accept: request.headers.accept,
      signal: controller.signal,
      noEgress: noEgressRequested(request.headers[NO_EGRESS_HEADER]),
    },
    deps.convert === undefined ? {} : { convert: deps.convert },
  )
  request.herdProfile = route.profileId
  // A tenant key's models and limits, checked before routing (and its answer metered).
  const tenancy = admitTenant(deps.tenants, request, reply, route, deps.catalog)
  route = tenancy.route
  // The response cache: a hit answers without routing; a miss's answer is recorded as it streams (api/cache.ts). Without one: the router, no tick spent.
  const answer = deps.cache === undefined ? undefined : await cachedRoute(deps, endpoint, route, request, reply)
  // A streaming client that waits (cold start, queue) hears about it in SSE comments.
  const loading =
    route.stream && STREAMING.has(endpoint)
      ? new LoadingStatus(reply, { model: route.profileId, nodeName: deps.nodeName, startedAt: started, ...deps.loading })
      : undefined
  if (loading) route = { ...route, onWaiting: loading.onWaiting }
  const shape = errorShapeOf(request)
  // Refusals before this point (auth, validation, tenant limits) make no span.
  const span = deps.tracing?.receive(request, started)
  if (span !== undefined) route = withTrace(span, route)
  deps.metrics.inFlight.inc()
  loading?.start()
  let res: UpstreamResponse
  try {
    res = await (answer === undefined ? deps.router.route(route) : answer(route))
  } catch (err: unknown) {
    loading?.stop()
    deps.metrics.inFlight.dec()
    tenancy.failed()
    endFailed(span, err)
    const early = loading?.stream
    // Counted in herd_requests_total by the error handler, like every refusal.
    if (early === undefined) throw err
    // The head went with the comments: the stream ends with the error event instead.
    if (controller.signal.aborted) {
      early.destroy()
      deps.metrics.requests.inc({ endpoint, model: route.profileId, status: 'aborted' })
    } else failStream(early, recordError(request, err, { nodeName: deps.nodeName, metrics: deps.metrics }), shape)
    return reply
  }
  loading?.stop()
  // llama-server's Responses events lack fields strict clients require; filled in once, on the client's node.
  if (endpoint === 'responses') res = completeResponses(res, { model: route.profileId })
  // …and its Messages stream may open without message_start (see protocols/messages-stream.ts).
  if (endpoint === 'messages') res = completeMessages(res, { model: route.profileId })
  res = tenancy.meter(res)
  const ttfbMs = performance.now() - started
  deps.metrics.ttfb.observe({ endpoint, served_by: res.servedBy }, ttfbMs / 1000)
  deps.metrics.traffic.request(route.profileId, ttfbMs)
  // The root logger with the request id as a field: the same line request.log would write, without making its child per request.
  // Its fields are not even gathered when info is off (a silent or warn-level logger).
  if (deps.logger.isLevelEnabled('info')) {
    deps.logger.info({ request_id: request.id, model: route.profileId, served_by: res.servedBy, status: res.status, stream: route.stream }, 'routed')
  }
  const onDone = (err: Error | undefined): void => {
    deps.metrics.inFlight.dec()
    deps.metrics.requests.inc({ endpoint, model: route.profileId, status: err ? 'aborted' : String(res.status) })
    endReceive(span, res, err)
    if (err) request.log.warn({ err: err.message }, 'response ended early')
  }
  const early = loading?.stream
  if (early === undefined) return relay(reply, res, onDone)
  continueStream(early, res, shape)
  watchEnd(early, onDone)
  return reply
}
