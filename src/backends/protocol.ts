/**
 * Which of herd's endpoints a backend serves, by the protocol it speaks, and the path it
 * serves each on (appended to its base_url, which ends in the API version: `…/v1`).
 *
 * A backend serves its own protocol's endpoints natively. Through a `Converter` (the
 * daemon wires conversions.ts's) it also serves the other protocol's chat endpoint: an
 * OpenAI client's `/v1/chat/completions` on an `anthropic` backend, an Anthropic client's
 * `/v1/messages` on an `openai` one. `backendServes` answers for both, and the API's
 * endpoint checks and /v1/models ask it with the same converter, so they cannot disagree
 * with what a backend does.
 */
import type { Readable } from 'node:stream'
import type { BackendProtocol, BackendSpec } from '../config/types.ts'
import type { Endpoint } from '../router/types.ts'

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

/** What of a backend's definition a conversion reads. */
export type ConversionSettings = Pick<BackendSpec, 'defaultMaxTokens' | 'maxTokensField'>

/**
 * A client's request turned into the backend's protocol, and its answer turned back; pure
 * (the backend does the I/O). Every method throws a HerdError: `invalid_request` with
 * `param` for a request the backend's protocol cannot express, `upstream_error` for an
 * answer that is not the backend protocol's shape.
 */
export interface Conversion {
  /** The backend's endpoint the converted request goes to. */
  readonly endpoint: Endpoint
  /** The request body in the backend's protocol (`model` as the body has it: the caller sets the backend's name first). */
  request(body: Record<string, unknown>, settings: ConversionSettings): Record<string, unknown>
  /** A whole (non-streaming) 2xx answer, parsed, in the client's protocol. */
  answer(body: unknown): unknown
  /** An event stream in the client's protocol, converted as it arrives; `request` is the client's body (what it asked of the stream). */
  stream(body: Readable, request: Record<string, unknown>): Readable
  /** A 4xx error body (parsed JSON, or its text) in the client's error envelope. */
  error(status: number, body: unknown): unknown
}

/** How a client endpoint reaches a backend of another protocol; undefined: it does not. */
export type Converter = (endpoint: Endpoint, protocol: BackendProtocol) => Conversion | undefined

/** Whether a backend of `protocol` serves `endpoint` (natively, or through `convert`). */
export function backendServes(endpoint: Endpoint, protocol: BackendProtocol, convert?: Converter): boolean {
  return BACKEND_PATHS[protocol][endpoint] !== undefined || convert?.(endpoint, protocol) !== undefined
}

/** The conversion a backend of `protocol` needs for `endpoint`: undefined when it serves it natively, or not at all. */
export function conversionFor(endpoint: Endpoint, protocol: BackendProtocol, convert?: Converter): Conversion | undefined {
  return BACKEND_PATHS[protocol][endpoint] === undefined ? convert?.(endpoint, protocol) : undefined
}

/** The client paths a backend model serves, for /v1/models and refusal messages. */
export function backendEndpoints(protocol: BackendProtocol, convert?: Converter, all: readonly Endpoint[] = ENDPOINT_ORDER): Endpoint[] {
  return all.filter((e) => backendServes(e, protocol, convert))
}

/** Endpoints in the order /v1/models lists them. */
const ENDPOINT_ORDER: readonly Endpoint[] = ['chat', 'completions', 'responses', 'messages', 'messages_count_tokens', 'embeddings']
