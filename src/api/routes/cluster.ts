/** GET /cluster/nodes: every node as this node sees it, with the age of its state. GET /cluster/inventory: every model in the mesh. */
import type { FastifyInstance } from 'fastify'
import type { ApiDeps } from '../app.ts'

export function clusterRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Topology, addresses and load: protected like /v1.
  app.get('/cluster/nodes', { config: { auth: 'key' } }, async () => ({ nodes: deps.cluster() }))
  // Which files each node holds and what they are: protected like /cluster/nodes.
  app.get('/cluster/inventory', { config: { auth: 'key' } }, async () => deps.inventory?.() ?? { models: [], backends: [] })
}
