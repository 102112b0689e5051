/** Operator endpoints: load a model ahead of traffic, unload, running instances, logs. */
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

/** Admin bodies are optional: none means `{}`. */
function parseBody(raw: unknown): Record<string, unknown> {
  return Buffer.isBuffer(raw) && raw.length > 0 ? parseJsonObject(raw) : {}
}

export function adminRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const localProfile = (requested: string): string => {
    const id = deps.catalog.resolve(requested)
    if (id === undefined || !deps.admin.servesLocally(id))
      throw new HerdError('model_not_found', `model '${clip(requested)}' is not in this node's cookbook`, { param: 'model' })
    return id
  }
  app.post('/admin/prewarm', { config: { auth: 'admin' } }, async (request, reply) => {
    const id = localProfile(modelField(parseBody(request.body), true) as string)
    const controller = new AbortController()
    // The response closing before it was written means the client left (the request's own
    // 'close' fires as soon as its body has been read).
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'))
    })
    await deps.admin.prewarm(id, { signal: controller.signal })
    return { model: id, status: 'ready' }
  })
  app.post('/admin/unload', { config: { auth: 'admin' } }, async (request) => {
    const requested = modelField(parseBody(request.body), false)
    const id = requested === undefined ? undefined : localProfile(requested)
    const stopped = await deps.admin.unload(id)
    return { model: id ?? null, stopped }
  })
  app.get('/admin/instances', { config: { auth: 'admin' } }, async () => ({ instances: deps.admin.instances() }))
  app.get<{ Querystring: { instance?: string | string[] } }>('/admin/logs', { config: { auth: 'admin' } }, async (request) => {
    // `?instance=a&instance=b` parses to an array: one instance per request.
    const instance = request.query.instance
    if (Array.isArray(instance)) throw new HerdError('invalid_request', "'instance' may be given once", { param: 'instance' })
    return { logs: deps.admin.logs(instance) }
  })
}
