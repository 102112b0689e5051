/**
 * `/admin/keys`: tenant keys, made, listed, changed and revoked on any node (the mesh
 * replicates them). The secret is in the answer to POST and nowhere else, ever.
 */
import type { FastifyInstance } from 'fastify'
import { HerdError } from '../../errors/index.ts'
import { COST_UNIT, createKeyBody, parseBody, updateKeyBody, type Tenants } from '../../tenants/index.ts'
import { parseJsonObject } from '../prepare.ts'

export interface KeyRoutesOptions {
  /** The node has `http.admin_keys` or `http.api_keys`: without either, a tenant key would lock its own admin routes. */
  adminConfigured: boolean
}

/** Admin bodies are optional: none means `{}`. */
function body(raw: unknown): Record<string, unknown> {
  return Buffer.isBuffer(raw) && raw.length > 0 ? parseJsonObject(raw) : {}
}

export function keyRoutes(app: FastifyInstance, tenants: Tenants, options: KeyRoutesOptions): void {
  const admin = { config: { auth: 'admin' as const } }
  app.post('/admin/keys', admin, async (request, reply) => {
    if (!options.adminConfigured) {
      throw new HerdError(
        'invalid_request',
        'set http.admin_keys (or http.api_keys) in this node’s config first: with tenant keys the node asks every client for a key, and its admin routes for an admin key',
      )
    }
    const { record, secret } = tenants.createKey(parseBody(createKeyBody, body(request.body)))
    request.log.info({ key: record.id, name: record.name }, 'key created')
    return reply.code(201).send({ key: tenants.view(record), secret: secret.reveal() })
  })
  app.get<{ Querystring: { all?: string } }>('/admin/keys', admin, async (request) => {
    const all = request.query.all === 'true' || request.query.all === '1'
    const keys = tenants.keyring
      .list()
      .filter((k) => all || !k.revoked)
      .sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1))
    return { keys: keys.map((k) => tenants.view(k)) }
  })
  app.get<{ Params: { id: string } }>('/admin/keys/:id', admin, async (request) => {
    const record = tenants.keyring.get(request.params.id)
    if (record === undefined) throw new HerdError('key_not_found', `no key ${request.params.id}`, { param: 'id' })
    const t = tenants.usage(record.id)
    return {
      key: tenants.view(record),
      usage: {
        window_ms: tenants.bucketMs * 12,
        requests: t.rate.requests,
        tokens: t.rate.tokens,
        tokens_today: t.day.tokens,
        tokens_this_month: t.month.tokens,
        spend_today: t.day.cost / COST_UNIT,
        spend_this_month: t.month.cost / COST_UNIT,
      },
    }
  })
  app.patch<{ Params: { id: string } }>('/admin/keys/:id', admin, async (request) => {
    const record = tenants.updateKey(request.params.id, parseBody(updateKeyBody, body(request.body)))
    request.log.info({ key: record.id, version: record.version }, 'key updated')
    return { key: tenants.view(record) }
  })
  app.delete<{ Params: { id: string } }>('/admin/keys/:id', admin, async (request) => {
    const record = tenants.revokeKey(request.params.id)
    request.log.info({ key: record.id }, 'key revoked')
    return { key: tenants.view(record) }
  })
}
