/** Operator endpoints: load a model ahead of traffic, unload, running instances, logs. */
import type { FastifyInstance } from 'fastify'
import { HerdError } from '../../errors/index.ts'
import type { ApiDeps } from '../app.ts'

function modelField(body: unknown, required: boolean): string | undefined {
  const model = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['model'] : undefined
  if (model === undefined && !required) return undefined
  if (typeof model !== 'string' || model === '') throw new HerdError('invalid_request', "'model' must be a non-empty string", { param: 'model' })
  return model
}

function parseBody(raw: unknown): unknown {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return {}
  try {
    return JSON.parse(raw.toString('utf8'))
  } catch {
    throw new HerdError('invalid_json', 'request body is not valid JSON')
  }
}

export function adminRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const localProfile = (requested: string): string => {
    const id = deps.catalog.resolve(requested)
    if (id === undefined || !deps.admin.servesLocally(id)) throw new HerdError('model_not_found', `model '${requested}' is not in this node's cookbook`, { param: 'model' })
    return id
  }
  app.post('/admin/prewarm', async (request, reply) => {
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
  app.post('/admin/unload', async (request) => {
    const requested = modelField(parseBody(request.body), false)
    const id = requested === undefined ? undefined : localProfile(requested)
    const stopped = await deps.admin.unload(id)
    return { model: id ?? null, stopped }
  })
  app.get('/admin/instances', async () => ({ instances: deps.admin.instances() }))
  app.get<{ Querystring: { instance?: string } }>('/admin/logs', async (request) => ({ logs: deps.admin.logs(request.query.instance) }))
}
