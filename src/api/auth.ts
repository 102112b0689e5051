/**
 * Who may call what, decided per route and never per URL prefix: fastify matches routes on
 * the decoded, normalised path (`/%761/...`, `//v1/...`), so a check on the raw URL is a
 * check on something else. Every route declares `config.auth`; registering one without a
 * decision throws, so a new route cannot ship open by accident.
 */
import { hash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HerdError } from '../errors/index.ts'
import type { Endpoint } from '../router/types.ts'
import type { Identified, Tenant } from '../tenants/index.ts'

/**
 * `key`: any of `http.api_keys` or `http.admin_keys`, or a tenant key; `admin`: operator
 * routes, `http.admin_keys` only (with none set, any of `http.api_keys`); `open`: by
 * design, no key.
 */
export type RouteAuth = 'key' | 'admin' | 'open'

/** The keys a node accepts. Any of them set (a tenant key existing counts) turns authentication on. */
export interface AuthKeys {
  /** `http.api_keys`: unlimited keys. */
  apiKeys: readonly string[]
  /** `http.admin_keys`: the only keys admin routes take, when set. */
  adminKeys?: readonly string[]
  /** Tenant keys (`herd-…`), looked up by the hash of what was presented. */
  tenants?: {
    active(): boolean
    /** `hash`: the presented key's SHA-256 hex when the caller already has it (one hash per presented key, not two). */
    identify(presented: string, hash?: string): Identified | undefined
    /** The key's `x-ratelimit-*`, sent on every answer to it. */
    headers(tenant: Tenant): Record<string, string>
  }
}

const POLICIES: readonly RouteAuth[] = ['key', 'admin', 'open']

/** One registered method + path and its decision. */
export interface RoutePolicy {
  method: string
  url: string
  auth: RouteAuth
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after installAuth, with its decision (fastify's own HEAD routes included). */
    routePolicies: readonly RoutePolicy[]
  }
  interface FastifyRequest {
    /** The tenant key the request authenticated with (null: none, or a config key). */
    tenant: Tenant | null
    /**
     * A routed request under a tenant key whose `x-ratelimit-*` are still to be set: its
     * admission sets them (counting it); a refusal before that gets them from sendError.
     */
    rateHeadersDue: boolean
  }
  interface FastifyContextConfig {
    /** Who may call this route (required on every route, see auth.ts). */
    auth?: RouteAuth
    /** The OpenAI endpoint a route serves, for metric labels. */
    endpoint?: Endpoint
  }
}

/**
 * Refuse routes without a decision, and enforce the decision of the route that matched.
 * Enforced at onRequest (the matched route's config is already known there) so the body of
 * an unauthenticated request is never read or decompressed.
 */
export function installAuth(app: FastifyInstance, keys: AuthKeys): void {
  const policies: RoutePolicy[] = []
  app.decorate('routePolicies', policies)
  app.decorateRequest('tenant', null)
  app.decorateRequest('rateHeadersDue', false)
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth
    if (auth === undefined || !POLICIES.includes(auth)) {
      throw new Error(`route ${String(route.method)} ${route.url} has no config.auth ('key', 'admin' or 'open')`)
    }
    for (const method of [route.method].flat()) policies.push({ method, url: route.url ?? route.path, auth })
  })
  // Callback-style: an async hook costs a promise and a tick on every request.
  app.addHook('onRequest', (request, reply, done) => {
    try {
      authorize(request, keys)
    } catch (err: unknown) {
      return done(err as Error)
    }
    if (request.tenant !== null && keys.tenants !== undefined) {
      // A routed request's admission computes them anyway (tenant-gate.ts): once per request, not twice.
      if (request.routeOptions.config.endpoint !== undefined) request.rateHeadersDue = true
      else reply.headers(keys.tenants.headers(request.tenant))
    }
    done()
  })
}

/**
 * Throws `unauthorized` unless the request may reach its route. A request that matched no
 * route (404, malformed URL) counts as protected, so without a key nobody learns which
 * routes exist.
 */
export function authorize(request: FastifyRequest, keys: AuthKeys): void {
  const { apiKeys, adminKeys = [], tenants } = keys
  if (apiKeys.length === 0 && adminKeys.length === 0 && tenants?.active() !== true) return
  const policy = request.is404 ? 'key' : (request.routeOptions.config.auth ?? 'key')
  if (policy === 'open') return
  const given = presentedKeys(request)
  if (given.length === 0) throw new HerdError('unauthorized', 'missing API key: send Authorization: Bearer <key> or x-api-key: <key>')
  // Each presented key is hashed once: for the configured keys' comparison and the tenant index alike.
  const presented = given.map(digest)
  const matches = (list: readonly string[]): boolean => list.length > 0 && presented.some((g) => digestsOf(list).some((k) => timingSafeEqual(g, k)))
  if (policy === 'admin') {
    const admin = adminKeys.length > 0 ? adminKeys : apiKeys
    if (matches(admin)) return
    throw new HerdError('unauthorized', admin.length === 0 ? 'admin routes need http.admin_keys, and this node has none' : 'this route needs an admin key')
  }
  if (matches(apiKeys) || matches(adminKeys)) return
  for (const [i, g] of given.entries()) {
    const found = tenants?.identify(g, (presented[i] as Buffer).toString('hex'))
    if (found === undefined) continue
    if ('refused' in found) throw new HerdError('unauthorized', `API key ${found.id} is ${found.refused}`)
    request.tenant = found.tenant
    return
  }
  throw new HerdError('unauthorized', 'invalid API key')
}

/** `Authorization: Bearer <key>` (OpenAI clients) and `x-api-key: <key>` (Anthropic clients). */
function presentedKeys(request: FastifyRequest): string[] {
  const keys: string[] = []
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]
  if (bearer !== undefined) keys.push(bearer)
  const header = request.headers['x-api-key']
  if (typeof header === 'string' && header !== '') keys.push(header)
  return keys
}

/** Keys are compared by digest, so neither the content nor the length of a key leaks through timing. */
function digest(s: string): Buffer {
  // One-shot: no Hash object per presented key.
  return hash('sha256', s, 'buffer')
}

/** The configured keys' digests, made once per list (not twice per request). */
const listDigests = new WeakMap<readonly string[], Buffer[]>()
function digestsOf(list: readonly string[]): Buffer[] {
  let out = listDigests.get(list)
  if (out === undefined) listDigests.set(list, (out = list.map(digest)))
  return out
}
