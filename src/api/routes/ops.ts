/** Health, readiness, version and Prometheus metrics. */
import type { FastifyInstance } from 'fastify'
import type { ApiDeps } from '../app.ts'

export function opsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/healthz', { config: { auth: 'open' } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { config: { auth: 'open' } }, async (_request, reply) => {
    const h = deps.health()
    const ready = h.ready && !h.draining
    return reply.code(ready ? 200 : 503).send({ ready, draining: h.draining, can_spawn: h.canSpawn, reason: h.reason ?? null })
  })
  app.get('/version', { config: { auth: 'open' } }, async () => ({ herd: deps.version.herd, llama_cpp: deps.version.llama(), node: deps.nodeName }))
  // Open by default so a Prometheus scraper needs no key; http.metrics_auth closes it.
  app.get('/metrics', { config: { auth: deps.metricsAuth === true ? 'key' : 'open' } }, async (_request, reply) => {
    const text = await deps.metrics.registry.metrics()
    return reply.type(deps.metrics.registry.contentType).send(text)
  })
}
