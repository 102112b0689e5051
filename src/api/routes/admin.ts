/**
 * Operator endpoints: load a model ahead of traffic, unload, running instances, logs. Logs,
 * prewarm and unload take an optional `node` (peer id or name; `?node=` on GET, a body field
 * on POST): another node's answer, fetched over the mesh (api/admin-mesh.ts).
 */
import type { FastifyInstance } from 'fastify'
import { HerdError } from '../../errors/index.ts'
import type { ApiDeps } from '../app.ts'
import { clip } from '../clip.ts'
import { parseJsonObject } from '../prepare.ts'

function modelField(body: Record<string, unknown>, required: boolean): string | undefined {
  const model = body['model']
  if (model === undefined && !required) return undefined
  if (typeof model !== 'string' || model === '') throw new HerdError('invalid_request', "'model' must be a non-empty string", { param: 'model' })
  return model
}

function nodeField(value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '' || value.length > 512)
    throw new HerdError('invalid_request', "'node' must be a node name or peer id", { param: 'node' })
  return value
}

/** Admin bodies are optional: none means `{}`. */
export function parseAdminBody(raw: unknown): Record<string, unknown> {
  return Buffer.isBuffer(raw) && raw.length > 0 ? parseJsonObject(raw) : {}
}

type AdminDeps = Pick<ApiDeps, 'catalog' | 'admin'>

function localProfile(deps: AdminDeps, requested: string): string {
  const id = deps.catalog.resolve(requested)
  if (id === undefined || !deps.admin.servesLocally(id))
    throw new HerdError('model_not_found', `model '${clip(requested)}' is not in this node's cookbook`, { param: 'model' })
  return id
}

/** The three admin operations that may also be asked of this node by a peer (for the dashboard). */
export const localAdmin = {
  async prewarm(deps: AdminDeps, body: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const id = localProfile(deps, modelField(body, true) as string)
    await deps.admin.prewarm(id, { signal })
    return { model: id, status: 'ready' }
  },
  async unload(deps: AdminDeps, body: Record<string, unknown>): Promise<unknown> {
    const requested = modelField(body, false)
    const id = requested === undefined ? undefined : localProfile(deps, requested)
    const stopped = await deps.admin.unload(id)
    return { model: id ?? null, stopped }
  },
  logs(deps: AdminDeps, instance: unknown): unknown {
    // `?instance=a&instance=b` parses to an array: one instance per request.
    if (Array.isArray(instance)) throw new HerdError('invalid_request', "'instance' may be given once", { param: 'instance' })
    if (instance !== undefined && typeof instance !== 'string') throw new HerdError('invalid_request', "'instance' must be a string", { param: 'instance' })
    return { logs: deps.admin.logs(instance) }
  },
}

export function adminRoutes(app: FastifyInstance, deps: ApiDeps): void {
  /** The node named, when it is another one (its answer comes over the mesh); undefined: this node. */
  const elsewhere = (node: unknown): string | undefined => {
    const n = nodeField(node)
    if (n === undefined || deps.admin.isSelf?.(n) !== false) return undefined
    return n
  }
  app.post('/admin/prewarm', { config: { auth: 'admin' } }, async (request, reply) => {
    const body = parseAdminBody(request.body)
    const controller = new AbortController()
    // The response closing before it was written means the client left (the request's own
    // 'close' fires as soon as its body has been read).
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'))
    })
    const node = elsewhere(body['node'])
    if (node !== undefined) return remote(deps, node, 'POST', '/admin/prewarm', body, controller.signal)
    return localAdmin.prewarm(deps, body, controller.signal)
  })
  app.post('/admin/unload', { config: { auth: 'admin' } }, async (request) => {
    const body = parseAdminBody(request.body)
    const node = elsewhere(body['node'])
    if (node !== undefined) return remote(deps, node, 'POST', '/admin/unload', body, AbortSignal.timeout(60_000))
    return localAdmin.unload(deps, body)
  })
  app.get('/admin/instances', { config: { auth: 'admin' } }, async () => ({ instances: deps.admin.instances() }))
  app.get<{ Querystring: { instance?: string | string[]; node?: string | string[] } }>('/admin/logs', { config: { auth: 'admin' } }, async (request) => {
    const node = elsewhere(request.query.node)
    const instance = request.query.instance
    if (node !== undefined) {
      if (Array.isArray(instance)) throw new HerdError('invalid_request', "'instance' may be given once", { param: 'instance' })
      const path = instance === undefined ? '/admin/logs' : `/admin/logs?instance=${encodeURIComponent(instance)}`
      return remote(deps, node, 'GET', path, undefined, AbortSignal.timeout(10_000))
    }
    return localAdmin.logs(deps, instance)
  })
}

function remote(
  deps: ApiDeps,
  node: string,
  method: 'GET' | 'POST',
  path: string,
  body: Record<string, unknown> | undefined,
  signal: AbortSignal,
): Promise<unknown> {
  if (deps.admin.remote === undefined) throw new HerdError('peer_unavailable', `node '${clip(node)}' is not reachable: the mesh is off`, { param: 'node' })
  const { node: _dropped, ...rest } = body ?? {}
  return deps.admin.remote(node, { method, path, body: body === undefined ? undefined : rest, signal })
}
