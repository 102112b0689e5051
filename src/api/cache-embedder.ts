/**
 * The semantic cache's embedder: a `/v1/embeddings` request for the embedding model, made
 * the way a client's would be (resolved by the catalog, routed locally or to a peer), so
 * the mesh serves it like any other. It skips authentication and the cache itself: the
 * node asks itself.
 */
import { randomUUID } from 'node:crypto'
import type { Embedder } from '../cache/index.ts'
import { HerdError } from '../errors/index.ts'
import type { ModelCatalog } from '../router/catalog.ts'
import { readCapped } from '../router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import { prepareRoute } from './prepare.ts'

/** An embedding answer is read this far at most (one vector of 8,192 floats as JSON is about 200 KB). */
const MAX_EMBEDDING_BYTES = 4 * 1024 * 1024
const READ_TIMEOUT_MS = 10_000

export function meshEmbedder(deps: { catalog: ModelCatalog; router: { route(req: RouteRequest): Promise<UpstreamResponse> } }): Embedder {
  return async (model, text, { signal }) => {
    const route = prepareRoute(deps.catalog, {
      endpoint: 'embeddings',
      body: Buffer.from(JSON.stringify({ model, input: text })),
      requestId: `cache-embed-${randomUUID()}`,
      hops: 0,
      accept: undefined,
      signal,
    })
    const res = await deps.router.route(route)
    const body = await readCapped(res.body, MAX_EMBEDDING_BYTES, READ_TIMEOUT_MS)
    if (res.status !== 200) throw new HerdError('upstream_error', `embedding model ${model} answered ${res.status}`)
    let vector: unknown
    try {
      vector = (JSON.parse(body) as { data?: { embedding?: unknown }[] }).data?.[0]?.embedding
    } catch {
      vector = undefined
    }
    if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => typeof x === 'number')) {
      throw new HerdError('upstream_error', `embedding model ${model} gave no embedding`)
    }
    return vector as number[]
  }
}
