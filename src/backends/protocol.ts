/**
 * Which of herd's endpoints a backend serves, by the protocol it speaks, and the path it
 * serves each on (appended to its base_url, which ends in the API version: `…/v1`).
 *
 * This is the seam for protocol conversion: today a backend serves only its own
 * protocol's endpoints (an Anthropic client asking an `openai` backend is refused with
 * `unsupported_endpoint`). The converter (src/protocols/) plugs in as a `Converter`:
 * `backendServes` then also answers yes where a conversion exists, and the backend
 * client sends the converted request and converts the answer back.
 */
import type { BackendProtocol } from '../config/types.ts'
import type { Endpoint, UpstreamResponse } from '../router/types.ts'

/** The path per endpoint a backend of each protocol serves natively. */
export const BACKEND_PATHS: Readonly<Record<BackendProtocol, Partial<Readonly<Record<Endpoint, string>>>>> = {
  openai: {
    chat: '/chat/completions',
    completions: '/completions',
    responses: '/responses',
    embeddings: '/embeddings',
  },
  anthropic: {
    messages: '/messages',
    messages_count_tokens: '/messages/count_tokens',
  },
}

/** A client's request turned into the backend's protocol, and its answer turned back. */
export interface Conversion {
  /** The backend's endpoint the converted request goes to. */
  readonly endpoint: Endpoint
  /** The request body in the backend's protocol (the `model` field is set by the caller afterwards). */
  request(body: Record<string, unknown>): Record<string, unknown>
  /** The backend's answer (streaming or not) in the client's protocol. */
  response(res: UpstreamResponse, context: { stream: boolean }): UpstreamResponse
}

/** How a client endpoint reaches a backend of another protocol; undefined: it does not. */
export type Converter = (endpoint: Endpoint, protocol: BackendProtocol) => Conversion | undefined

/** Whether a backend of `protocol` serves `endpoint` (natively, or through `convert`). */
export function backendServes(endpoint: Endpoint, protocol: BackendProtocol, convert?: Converter): boolean {
  return BACKEND_PATHS[protocol][endpoint] !== undefined || convert?.(endpoint, protocol) !== undefined
}

/** The client paths a backend model serves, for /v1/models and refusal messages. */
export function backendEndpoints(protocol: BackendProtocol, convert?: Converter, all: readonly Endpoint[] = ENDPOINT_ORDER): Endpoint[] {
  return all.filter((e) => backendServes(e, protocol, convert))
}

/** Endpoints in the order /v1/models lists them. */
const ENDPOINT_ORDER: readonly Endpoint[] = ['chat', 'completions', 'responses', 'messages', 'messages_count_tokens', 'embeddings']
