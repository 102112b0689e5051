/**
 * The tenant check of a routed request, between resolving its model and routing it: the
 * key's model list, budget, quotas and rates (tenants/gate.ts). A refusal is thrown for the
 * error handler with the key's `x-ratelimit-*` headers already on the reply; an admitted
 * request goes on narrowed to the models the key may use, and its answer is metered.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import { TenantRefusal, type Tenants } from '../tenants/index.ts'
import type { ModelCatalog } from '../router/catalog.ts'
import { byPrice, priceRank } from '../router/pricing.ts'

/**
 * The request sent to the `equivalents:` of its model that cost less than it, cheapest
 * first (the router tries the next when one cannot serve before the first byte), or
 * undefined when none is cheaper. Only the node the client asked moves a request.
 */
export function cheaperEquivalents(catalog: ModelCatalog, route: RouteRequest): RouteRequest | undefined {
  if (route.hops > 0) return undefined
  const now = priceRank(catalog.price(route.profileId))
  const cheaper = byPrice(
    catalog.equivalents(route.profileId).filter((id) => priceRank(catalog.price(id)) < now),
    (id) => catalog.price(id),
  )
  const [first, ...rest] = cheaper
  if (first === undefined) return undefined
  return { ...route, profileId: first, alternatives: rest.length === 0 ? undefined : rest, strategy: 'first-available' }
}

export interface Tenancy {
  route: RouteRequest
  meter(res: UpstreamResponse): UpstreamResponse
  failed(): void
}

/** A request without a tenant key: its answer passes as it is (shared, not two closures per request). */
const unmetered = (res: UpstreamResponse): UpstreamResponse => res
const nothing = (): void => {}

export function admitTenant(tenants: Tenants | undefined, request: FastifyRequest, reply: FastifyReply, route: RouteRequest, catalog: ModelCatalog): Tenancy {
  if (tenants === undefined || request.tenant === null) return { route, meter: unmetered, failed: nothing }
  try {
    const admission = tenants.admit(request.tenant, route, { downgrade: (r) => cheaperEquivalents(catalog, r) })
    reply.headers(admission.headers)
    request.rateHeadersDue = false
    request.herdProfile = admission.route.profileId
    return admission
  } catch (err: unknown) {
    if (err instanceof TenantRefusal) {
      reply.headers(err.headers)
      request.rateHeadersDue = false
    }
    throw err
  }
}
