/** GET /cluster/nodes: every node as this node sees it, with the age of its state. */
import type { FastifyInstance } from 'fastify'
import type { ApiDeps } from '../app.ts'

export function clusterRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Topology, addresses and load: protected like /v1.
  app.get('/cluster/nodes', { config: { auth: 'key' } }, async () => ({ nodes: deps.cluster() }))
}
