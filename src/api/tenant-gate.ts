/**
 * The tenant check of a routed request, between resolving its model and routing it: the
 * key's model list, budget, quotas and rates (tenants/gate.ts). A refusal is thrown for the
 * error handler with the key's `x-ratelimit-*` headers already on the reply; an admitted
 * request goes on narrowed to the models the key may use, and its answer is metered.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import { TenantRefusal, type Tenants } from '../tenants/index.ts'

export interface Tenancy {
  route: RouteRequest
  meter(res: UpstreamResponse): UpstreamResponse
  failed(): void
}

export function admitTenant(tenants: Tenants | undefined, request: FastifyRequest, reply: FastifyReply, route: RouteRequest): Tenancy {
  if (tenants === undefined || request.tenant === null) return { route, meter: (res) => res, failed: () => {} }
  try {
    const admission = tenants.admit(request.tenant, route)
    reply.headers(admission.headers)
    request.herdProfile = admission.route.profileId
    return admission
  } catch (err: unknown) {
    if (err instanceof TenantRefusal) reply.headers(err.headers)
    throw err
  }
}
