/**
 * Browsers. A page on any site can make a visitor's browser send requests to a node on
 * their machine or LAN; for a node without keys that is free use of its GPUs, and with
 * CORS open it is also the answers. So, by default, no origin is allowed:
 *
 * - `http.cors_origins` lists the origins whose pages may call the API (`['*']`: any);
 *   @fastify/cors answers their preflights (the one thing answered without a key: a
 *   preflight carries no data) and adds the CORS headers to their answers.
 * - A request that carries an `Origin` header from anywhere else is refused (403
 *   `origin_not_allowed`) before it is authenticated or read. Browsers always send
 *   `Origin` on cross-site POSTs, also the "simple" ones that skip the preflight, so
 *   without this a page could still start generations it cannot read. The node's own
 *   pages (same host and port) and clients that send no `Origin` (SDKs, curl) pass.
 */
import cors from '@fastify/cors'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HerdError } from '../errors/index.ts'
import { clip } from './clip.ts'

/** Marks the preflight route @fastify/cors registers as open, and enforces the Origin rule. Call before installAuth. */
export function installCors(app: FastifyInstance, origins: readonly string[]): void {
  const any = origins.includes('*')
  const allowed = new Set(origins)
  app.addHook('onRoute', (route) => {
    // @fastify/cors's catch-all preflight route: it answers only preflights, which hold no data.
    if (route.method === 'OPTIONS' && route.url === '*') route.config = { ...route.config, auth: 'open' }
  })
  app.addHook('onRequest', (request, _reply, done) => {
    const origin = request.headers.origin
    if (origin === undefined || any || allowed.has(origin) || sameOrigin(request, origin)) return done()
    done(new HerdError('origin_not_allowed', `requests from pages at ${clip(origin)} are not allowed: add the origin to http.cors_origins`))
  })
  if (origins.length === 0) return
  void app.register(cors, {
    origin: any ? '*' : [...allowed],
    methods: ['GET', 'HEAD', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
    allowedHeaders: [
      'authorization',
      'content-type',
      'x-api-key',
      'anthropic-version',
      'anthropic-beta',
      'x-request-id',
      'openai-organization',
      'openai-project',
      'x-herd-no-egress',
      'x-herd-cache',
    ],
    exposedHeaders: [
      'x-request-id',
      'x-herd-node',
      'x-herd-model',
      'x-herd-error',
      'x-herd-routed',
      'x-herd-cache',
      'retry-after',
      // OpenAI's rate-limit headers, sent on every answer to a limited key: pages read them too.
      ...['requests', 'tokens'].flatMap((k) => [`x-ratelimit-limit-${k}`, `x-ratelimit-remaining-${k}`, `x-ratelimit-reset-${k}`]),
    ],
    maxAge: 600,
  })
}

/** The node's own pages: the Origin names the host and port this request was sent to. */
function sameOrigin(request: FastifyRequest, origin: string): boolean {
  const host = request.headers.host ?? request.headers[':authority']
  if (typeof host !== 'string') return false
  try {
    return new URL(origin).host === host.toLowerCase()
  } catch {
    return false
  }
}
