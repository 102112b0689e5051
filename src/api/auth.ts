/**
 * Who may call what, decided per route and never per URL prefix: fastify matches routes on
 * the decoded, normalised path (`/%761/...`, `//v1/...`), so a check on the raw URL is a
 * check on something else. Every route declares `config.auth`; registering one without a
 * decision throws, so a new route cannot ship open by accident.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HerdError } from '../errors/index.ts'
import type { Endpoint } from '../router/types.ts'

/**
 * `key`: any of `http.api_keys`; `admin`: operator routes (today the same keys, kept apart
 * so `http.admin_keys` can narrow them later); `open`: by design, no key.
 */
export type RouteAuth = 'key' | 'admin' | 'open'

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
export function installAuth(app: FastifyInstance, apiKeys: readonly string[]): void {
  const policies: RoutePolicy[] = []
  app.decorate('routePolicies', policies)
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth
    if (auth === undefined || !POLICIES.includes(auth)) {
      throw new Error(`route ${String(route.method)} ${route.url} has no config.auth ('key', 'admin' or 'open')`)
    }
    for (const method of [route.method].flat()) policies.push({ method, url: route.url ?? route.path, auth })
  })
  app.addHook('onRequest', async (request) => authorize(request, apiKeys))
}

/**
 * Throws `unauthorized` unless the request may reach its route. A request that matched no
 * route (404, malformed URL) counts as protected, so without a key nobody learns which
 * routes exist.
 */
export function authorize(request: FastifyRequest, apiKeys: readonly string[]): void {
  if (apiKeys.length === 0) return
  const policy = request.is404 ? 'key' : (request.routeOptions.config.auth ?? 'key')
  if (policy === 'open') return
  const given = presentedKeys(request)
  if (given.length === 0) throw new HerdError('unauthorized', 'missing API key: send Authorization: Bearer <key> or x-api-key: <key>')
  if (!given.some((g) => apiKeys.some((k) => sameKey(g, k)))) throw new HerdError('unauthorized', 'invalid API key')
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

/** Compare digests, so neither the content nor the length of a key leaks through timing. */
function sameKey(given: string, key: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(given), digest(key))
}
