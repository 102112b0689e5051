/**
 * Validate a request (a JSON body, or a GET's query) and turn it into a RouteRequest.
 * Shared by the HTTP routes and by requests forwarded from peers, so both are checked the
 * same way.
 *
 * A model of a backend that speaks the other protocol serves the request through a
 * conversion; whether the request converts at all is decided here, before it is routed
 * anywhere (the node that serves it converts it again, the same way): the model asked
 * for must take it (else the converter's 400, naming the field), a route's or fallback's
 * other candidates that cannot are left out, like those that do not serve the endpoint.
 */
import { HerdError, isHerdError } from '../errors/index.ts'
import { backendEndpoints, backendServes, conversionFor, type Converter } from '../backends/index.ts'
import type { ModelCatalog } from '../router/catalog.ts'
import { NO_EGRESS_HEADER } from '../router/backend-target.ts'
import { rememberParsedBody, type Endpoint, type RouteRequest } from '../router/types.ts'
import { clip } from './clip.ts'
import { ENDPOINTS, servedPaths, serves } from './endpoints.ts'

export interface PrepareInput {
  endpoint: Endpoint
  /** The raw body (empty for a GET). */
  body: Buffer
  /** A GET endpoint's query (`model` is read from it); unused for POST, whose body names the model. */
  query?: Record<string, unknown>
  requestId: string
  hops: number
  accept: string | undefined
  signal: AbortSignal
  /** The mesh-wide wait bound a forwarding peer set (epoch ms, this node's clock). */
  deadline?: number
  /** `x-herd-no-egress`: the request must not leave the network. */
  noEgress?: boolean
}

export interface PrepareOptions {
  /** OpenAI ⇄ Anthropic conversion for backends (the same the backends use); absent: none. */
  convert?: Converter
}

export function prepareRoute(catalog: ModelCatalog, input: PrepareInput, options: PrepareOptions = {}): RouteRequest {
  const spec = ENDPOINTS[input.endpoint]
  const get = spec.method === 'GET'
  const parsed = get ? (input.query ?? {}) : parseJsonObject(input.body)
  const requested = parsed['model']
  if (requested !== undefined && (typeof requested !== 'string' || requested.trim() === '')) {
    throw new HerdError('invalid_request', "'model' must be a non-empty string", { param: 'model' })
  }
  const plan = catalog.plan(requested)
  if (plan === undefined) {
    if (requested === undefined) throw new HerdError('invalid_request', "request has no 'model' and no default_model is set", { param: 'model' })
    throw new HerdError('model_not_found', `model '${clip(requested)}' does not exist on any node`, { param: 'model' })
  }
  const refusal = conversionCheck(catalog, input.endpoint, parsed, options.convert)
  // Alternatives that cannot serve this endpoint (or this request) are no alternatives; the first one must.
  const servesIt = (id: string): boolean => unservedBy(catalog, id, input.endpoint, options.convert) === undefined && refusal(id) === undefined
  const usable = plan.route === undefined ? [plan.profileIds[0] as string, ...plan.profileIds.slice(1).filter(servesIt)] : plan.profileIds.filter(servesIt)
  const profileId = usable[0] ?? (plan.profileIds[0] as string)
  const served = unservedBy(catalog, profileId, input.endpoint, options.convert)
  if (served !== undefined) {
    const backend = catalog.backend(profileId)
    const what = backend === undefined ? '' : ` (an ${backend.protocol} backend's model)`
    const message =
      plan.route === undefined
        ? `model '${clip(profileId)}'${what} does not serve ${spec.upstream} (it serves ${served.join(', ')})`
        : `no candidate of route '${clip(plan.route)}' serves ${spec.upstream} (${clip(profileId)}${what} serves ${served.join(', ')})`
    throw new HerdError('unsupported_endpoint', message, { param: 'model' })
  }
  const refused = refusal(profileId)
  if (refused !== undefined) throw refused
  // Only the node the client asked chooses among models; a forwarded request is for one.
  // GET endpoints (props) describe one model: no alternatives.
  const alternatives = input.hops === 0 && !get ? usable.slice(1) : []
  if (!get && parsed['stream'] !== undefined && typeof parsed['stream'] !== 'boolean') {
    throw new HerdError('invalid_request', "'stream' must be a boolean", { param: 'stream' })
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (input.accept) headers['accept'] = input.accept
  // Carried to peers with the forward, so the node that serves it honours it too.
  if (input.noEgress === true) headers[NO_EGRESS_HEADER] = '1'
  const route: RouteRequest = {
    requestId: input.requestId,
    endpoint: input.endpoint,
    method: spec.method,
    // A GET has no body to name its model, so the path does, for the peer it may go to.
    path: get ? `${spec.upstream}?model=${encodeURIComponent(profileId)}` : spec.upstream,
    profileId,
    body: get ? Buffer.alloc(0) : input.body,
    stream: !get && parsed['stream'] === true,
    hops: input.hops,
    headers,
    signal: input.signal,
    errorShape: spec.errorShape,
    receivedAt: performance.now(),
  }
  // Set only when there is something to say (absent, not undefined), without a spread object per field.
  if (input.noEgress === true) route.noEgress = true
  if (input.deadline !== undefined) route.deadline = input.deadline
  if (alternatives.length > 0) {
    route.alternatives = alternatives
    route.strategy = plan.strategy
  }
  if (requested !== undefined) route.model = requested
  if (plan.route !== undefined) route.routeName = plan.route
  const maxTokens = outputCap(parsed)
  if (maxTokens !== undefined) route.maxTokens = maxTokens
  // Parsed once per request: later readers of the same body find it (router/types.ts).
  return get ? route : rememberParsedBody(route, parsed)
}

const OUTPUT_CAPS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'n_predict']

/** The output cap a body sets, whichever API's name it uses (for token-limit estimates). */
function outputCap(parsed: Record<string, unknown>): number | undefined {
  for (const name of OUTPUT_CAPS) {
    const v = parsed[name]
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return Math.floor(v)
  }
  return undefined
}

/**
 * The paths a model serves when it does not serve `endpoint` (by its capabilities, or its
 * backend's protocol), else undefined (it serves it, or nothing is known of it).
 */
function unservedBy(catalog: ModelCatalog, profileId: string, endpoint: Endpoint, convert: Converter | undefined): string[] | undefined {
  const backend = catalog.backend(profileId)
  if (backend !== undefined) {
    if (backendServes(endpoint, backend.protocol, convert)) return undefined
    return backendEndpoints(backend.protocol, convert).map((e) => ENDPOINTS[e].paths[0] ?? ENDPOINTS[e].upstream)
  }
  const caps = catalog.capabilities(profileId)
  return caps === undefined || serves(caps, endpoint) ? undefined : servedPaths(caps)
}

/**
 * Why a model cannot take this request through its backend's conversion (the converter's
 * 400), or undefined: it can, or needs none. The answer depends only on the backend's
 * protocol, so each is tried once.
 */
function conversionCheck(
  catalog: ModelCatalog,
  endpoint: Endpoint,
  body: Record<string, unknown>,
  convert: Converter | undefined,
): (profileId: string) => HerdError | undefined {
  const seen = new Map<string, HerdError | undefined>()
  return (profileId) => {
    const protocol = catalog.backend(profileId)?.protocol
    const conversion = protocol === undefined ? undefined : conversionFor(endpoint, protocol, convert)
    if (protocol === undefined || conversion === undefined) return undefined
    if (!seen.has(protocol)) {
      try {
        // The backend's own settings (max_tokens) change what is sent, never whether it converts.
        conversion.request({ ...body, model: profileId }, { maxTokensField: 'max_tokens' })
        seen.set(protocol, undefined)
      } catch (err: unknown) {
        if (!isHerdError(err)) throw err
        seen.set(protocol, err)
      }
    }
    return seen.get(protocol)
  }
}

/** A request body as a JSON object, or the right 400 (invalid_json / invalid_request). */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch (err: unknown) {
    throw new HerdError('invalid_json', `request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HerdError('invalid_request', 'request body must be a JSON object')
  }
  return value as Record<string, unknown>
}
