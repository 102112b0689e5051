/**
 * Serve a request a peer forwarded to us: the same validation as our HTTP routes, then
 * the router (which serves it locally, since hops > 0). A refusal travels back as an
 * ordinary response carrying the error envelope and an `x-herd-error` code, which the
 * sending node turns back into an error it may retry elsewhere.
 */
import { Readable } from 'node:stream'
import { adminForward, isAdminForward } from './admin-mesh.ts'
import type { ApiDeps } from './app.ts'
import { clip } from './clip.ts'
import { toHerdError } from './errors.ts'
import { ENDPOINTS, ENDPOINT_BY_PATH } from './endpoints.ts'
import { prepareRoute } from './prepare.ts'
import type { Converter } from '../backends/index.ts'
import { HerdError } from '../errors/index.ts'
import { noEgressRequested, NO_EGRESS_HEADER, parseWaitHeader, WAIT_HEADER, type ForwardRequest, type ModelCatalog } from '../router/index.ts'
import type { RouteRequest, UpstreamResponse, WaitState } from '../router/types.ts'
import { endAtLastByte, endFailed, withTrace, type Tracing } from '../telemetry/index.ts'

export interface ForwardHandlerDeps {
  nodeName: string
  catalog: ModelCatalog
  route: (req: RouteRequest) => Promise<UpstreamResponse>
  /** The converter the node's backends use. */
  convert?: Converter
  /** Admin operations peers may ask of this node (api/admin-mesh.ts); absent: none over the mesh. */
  admin?: Pick<ApiDeps, 'catalog' | 'admin'>
  /** Spans for forwarded requests, children of the asking node's forward span. Absent: none. */
  tracing?: Tracing
}

export function forwardHandler(deps: ForwardHandlerDeps) {
  return async (fwd: ForwardRequest, options: { signal: AbortSignal; onWaiting?: (state: () => WaitState) => void }): Promise<UpstreamResponse> => {
    // Admin reads and actions are not model requests: no forwarded-request span for them.
    if (deps.admin !== undefined && isAdminForward(fwd)) {
      try {
        return await adminForward(deps.admin, deps.nodeName, fwd, options.signal)
      } catch (err: unknown) {
        if (options.signal.aborted) throw err
        return errorResponse(deps.nodeName, toHerdError(err))
      }
    }
    const span = deps.tracing?.receiveForwarded(fwd)
    try {
      const [path = '', search = ''] = fwd.path.split('?', 2)
      const endpoint = Object.hasOwn(ENDPOINT_BY_PATH, path) ? ENDPOINT_BY_PATH[path] : undefined
      if (endpoint === undefined || ENDPOINTS[endpoint].method !== fwd.method)
        throw new HerdError('not_found', `no route for ${clip(fwd.method)} ${clip(fwd.path)}`)
      const deadline = parseWaitHeader(fwd.headers[WAIT_HEADER])
      let route = prepareRoute(
        deps.catalog,
        {
          endpoint,
          body: fwd.body,
          query: forwardedQuery(search),
          requestId: fwd.requestId,
          hops: fwd.hops,
          accept: fwd.headers['accept'],
          signal: options.signal,
          ...(deadline === undefined ? {} : { deadline }),
          noEgress: noEgressRequested(fwd.headers[NO_EGRESS_HEADER]),
        },
        deps.convert === undefined ? {} : { convert: deps.convert },
      )
      if (span !== undefined) route = withTrace(span, route)
      // What a stream waits on here travels back to the asking node in keep-alives (its client hears it as SSE comments).
      return await endAtLastByte(span, deps.route(route.stream && options.onWaiting !== undefined ? { ...route, onWaiting: options.onWaiting } : route))
    } catch (err: unknown) {
      endFailed(span, err)
      if (options.signal.aborted) throw err
      return errorResponse(deps.nodeName, toHerdError(err))
    }
  }
}

/** A forwarded GET names its model in the query; a repeated `model` stays a list, which prepareRoute refuses. */
function forwardedQuery(search: string): Record<string, unknown> {
  const models = new URLSearchParams(search).getAll('model')
  if (models.length === 0) return {}
  return { model: models.length === 1 ? models[0] : models }
}

export function errorResponse(nodeName: string, err: HerdError): UpstreamResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-herd-error': err.code }
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds)
  return { status: err.status, headers, body: Readable.from([Buffer.from(JSON.stringify(err.toEnvelope()))]), servedBy: nodeName }
}
