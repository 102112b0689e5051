/**
 * The response cache's place on a routed request (src/cache): look the request up before
 * routing, say what happened in `x-herd-cache` (`hit`, `miss`, or `bypass` when the request
 * is not for the cache), and hand back what answers it: the cached answer, or the router's
 * with its body recorded as it streams to the client. Without a cache it is the router.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { CACHE_HEADER, keyScope, parseCacheMode, type ResponseCache } from '../cache/index.ts'
import type { Endpoint, RouteRequest, UpstreamResponse } from '../router/types.ts'
import type { Metrics } from './metrics.ts'

export interface CacheRouteDeps {
  cache?: ResponseCache | undefined
  router: { route(req: RouteRequest): Promise<UpstreamResponse> }
  metrics: Metrics
  nodeName: string
}

export type Answer = (route: RouteRequest) => Promise<UpstreamResponse>

/** Throws 400 `invalid_request` for an `x-herd-cache` other than `use` or `off` (only on a node with a cache). */
export async function cachedRoute(
  deps: CacheRouteDeps,
  endpoint: Endpoint,
  route: RouteRequest,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<Answer> {
  const routed: Answer = (r) => deps.router.route(r)
  if (deps.cache === undefined) return routed
  const ticket = await deps.cache.lookup({
    endpoint,
    models: [route.profileId, ...(route.alternatives ?? [])],
    body: route.body,
    stream: route.stream,
    mode: parseCacheMode(request.headers[CACHE_HEADER]),
    keyScope: keyScope(request.headers),
    requestId: request.id,
    signal: route.signal,
  })
  reply.header(CACHE_HEADER, ticket.state)
  switch (ticket.state) {
    case 'bypass':
      return routed
    case 'hit':
      deps.metrics.cacheHits.inc({ endpoint, kind: ticket.kind })
      if (ticket.embedMs !== undefined) deps.metrics.cacheEmbedSeconds.observe(ticket.embedMs / 1000)
      return async () => ticket.replay(deps.nodeName)
    case 'miss':
      deps.metrics.cacheMisses.inc({ endpoint })
      if (ticket.embedMs !== undefined) deps.metrics.cacheEmbedSeconds.observe(ticket.embedMs / 1000)
      return async (r) => ticket.record(await deps.router.route(r))
  }
}
