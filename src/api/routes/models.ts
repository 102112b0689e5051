/** GET /v1/models and /v1/models/{id}: the union over the mesh, in OpenAI's list shape. */
import type { FastifyInstance } from 'fastify'
import { HerdError } from '../../errors/index.ts'
import type { CatalogEntry } from '../../router/catalog.ts'
import type { ApiDeps } from '../app.ts'
import { clip } from '../clip.ts'
import { ENDPOINTS, servedPaths } from '../endpoints.ts'
import { backendEndpoints, type Converter } from '../../backends/index.ts'

function toOpenAi(e: CatalogEntry, convert: Converter | undefined): Record<string, unknown> {
  return {
    id: e.id,
    object: 'model',
    created: e.created,
    owned_by: e.ownedBy,
    // herd's own additions, ignored by OpenAI clients.
    herd: {
      profile: e.profileId,
      local: e.local,
      // `missing_file`: its model_path does not exist on the node listed (requests get 503 model_file_missing).
      status: e.status,
      capabilities: e.capabilities,
      endpoints:
        e.backend === undefined
          ? servedPaths(e.capabilities)
          : backendEndpoints(e.backend.protocol, convert).map((x) => ENDPOINTS[x].paths[0] ?? ENDPOINTS[x].upstream),
      description: e.description ?? null,
      ...(e.route === undefined ? {} : { route: e.route }),
      // External backends' models: whose, and whether a request to it leaves the network.
      ...(e.backend === undefined ? {} : { backend: e.backend.name, protocol: e.backend.protocol, egress: e.backend.egress }),
    },
  }
}

export function modelRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/models', { config: { auth: 'key' } }, async () => ({ object: 'list', data: deps.catalog.list().map((e) => toOpenAi(e, deps.convert)) }))
  app.get<{ Params: { '*': string } }>('/v1/models/*', { config: { auth: 'key' } }, async (request) => {
    // Model ids may contain '/', so the id is the rest of the path (the router has already
    // percent-decoded it: decoding again would turn `%25` into a URIError).
    const id = request.params['*']
    const entry = deps.catalog.list().find((e) => e.id === id)
    if (!entry) throw new HerdError('model_not_found', `model '${clip(id)}' does not exist on any node`, { param: 'model' })
    return toOpenAi(entry, deps.convert)
  })
}
