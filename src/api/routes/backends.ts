/**
 * Runtime registration of external backends (for machines that cannot run herd): the
 * same fields as a cookbook `backends:` entry, the credential by reference only (an
 * environment variable of the node or a key file, never the key itself), persisted under
 * HERD_HOME. Answers never hold a credential or header value.
 */
import type { FastifyInstance } from 'fastify'
import { HerdError } from '../../errors/index.ts'
import type { ApiDeps } from '../app.ts'
import { parseJsonObject } from '../prepare.ts'

/** The backends component, as the admin routes use it. */
export interface BackendAdmin {
  views(): unknown[]
  register(body: Record<string, unknown>): Promise<unknown>
  remove(name: string): Promise<void>
}

export function backendRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const admin = (): BackendAdmin => {
    const b = deps.admin.backends
    if (b === undefined) throw new HerdError('not_found', 'this node runs no backends component')
    return b
  }
  app.get('/admin/backends', { config: { auth: 'admin' } }, async () => ({ backends: deps.admin.backends?.views() ?? [] }))
  app.post('/admin/backends', { config: { auth: 'admin' } }, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? parseJsonObject(request.body) : undefined
    if (body === undefined) throw new HerdError('invalid_request', 'the body must be a backend definition (JSON object)')
    const backend = await admin().register(body)
    return reply.code(201).send({ backend })
  })
  app.delete<{ Params: { name: string } }>('/admin/backends/:name', { config: { auth: 'admin' } }, async (request) => {
    await admin().remove(request.params.name)
    return { name: request.params.name, removed: true }
  })
}
