/**
 * The resolved, frozen forms the rest of the daemon receives. Paths are absolute, args are
 * tokenized, seconds became milliseconds; components never see raw YAML.
 */
import type { ConfigFile } from './schema.ts'
import type { Secret } from './secret.ts'

/** Which OpenAI endpoints a profile can serve, derived from its llama-server args. */
export interface Capabilities {
  /** /v1/chat/completions and /v1/completions (every profile but pure embedding/rerank ones). */
  completion: boolean
  /** /v1/embeddings: args contain `--embedding` / `--embeddings`. */
  embeddings: boolean
  /** /v1/rerank: args contain `--reranking` / `--rerank`. */
  rerank: boolean
}

/** One `model:profile` as the supervisor and router use it. */
export interface ProfileSpec {
  /** `model:profile`, the key used everywhere (gossip, metrics, instances). */
  readonly id: string
  readonly model: string
  readonly profile: string
  readonly description: string | undefined
  /** Absolute path of the GGUF file, when the profile names one. */
  readonly modelPath: string | undefined
  /** Tokenized `llama_server_args`, plus `-hf` args from hf_repo/hf_file. Never includes --host/--port. */
  readonly args: readonly string[]
  readonly capabilities: Capabilities
  readonly idleTimeoutMs: number
  readonly startupTimeoutMs: number
  readonly maxInstances: number
  readonly maxQueueSize: number
  readonly maxWaitInQueueMs: number
  /** `max_request_duration_ms`: a request running longer is aborted. Undefined: no limit. */
  readonly maxRequestDurationMs?: number | undefined
  /** `download_timeout_seconds` in ms: extra start-up time allowed for an `-hf` download. */
  readonly downloadTimeoutMs?: number | undefined
  /** `min_eviction_tenure_secs` in ms: an instance younger than this is not evicted for another. */
  readonly minEvictionTenureMs?: number | undefined
  readonly estimatedVramMb: number | undefined
  readonly estimatedSysmemMb: number | undefined
  /** `price:` as written (undefined: free, or `tenants.cost_per_hour` spread over its tokens). */
  readonly price?: Price | undefined
  /** A stable hash of what is launched (binary-independent): model path + args. Keys learned memory. */
  readonly launchHash: string
}

/** The cookbook after validation: enabled profiles only, with addressing resolved. */
export interface Cookbook {
  /** Enabled profiles by `model:profile`. */
  readonly profiles: ReadonlyMap<string, ProfileSpec>
  /** Bare model name (and aliases) → the `model:profile` it means (profile `default`, or the only one). */
  readonly names: ReadonlyMap<string, string>
  /** Alias → model name, so `alias:profile` resolves too. Optional so test fakes can omit it. */
  readonly aliases?: ReadonlyMap<string, string>
  /** `model:profile` used when a request has no `model`. */
  readonly defaultModel: string | undefined
  /** Named routes (roles, tasks): what clients may send as `model` to get one of several models. Optional so test fakes can omit it. */
  readonly routes?: ReadonlyMap<string, RouteSpec>
  /** `model:profile` → the models its model names as `fallbacks`. Optional so test fakes can omit it. */
  readonly fallbacks?: ReadonlyMap<string, readonly string[]>
  /** Files it was read from (for messages and the watcher). */
  readonly sources: readonly string[]
  /** `equivalents:` of every file, as written (ids resolved at request time). Optional so test fakes can omit it. */
  readonly equivalents?: readonly (readonly string[])[]
  /** External endpoints (`backends:`), credentials resolved. Optional so test fakes can omit it. */
  readonly backends?: readonly BackendSpec[]
}

/** The wire protocol a backend speaks. */
export type BackendProtocol = 'openai' | 'anthropic'

/** Where a backend's credential is read from: shown by GET /admin/backends instead of the key. */
export type CredentialRef = { readonly env: string } | { readonly file: string } | null

/** One model a backend serves: its name there, and other names clients may use for it. */
export interface BackendModelSpec {
  readonly name: string
  readonly aliases: readonly string[]
  /** Its own price, else the backend's. */
  readonly price?: Price | undefined
}

/** Currency units (the node's `tenants.currency`) per million tokens; also millionths of a unit per token. */
export interface Price {
  readonly inputPerMtok: number
  readonly outputPerMtok: number
}

/** One external backend, validated, with the node's credential read. */
export interface BackendSpec {
  readonly name: string
  readonly protocol: BackendProtocol
  /** Without a trailing slash; request paths are appended (`/chat/completions`, `/models`). */
  readonly baseUrl: string
  readonly credential: CredentialRef
  /** The credential itself (never printed: see Secret); undefined when the backend needs none. */
  readonly apiKey: Secret | undefined
  /** Listed models (discovered ones come on top at run time). */
  readonly models: readonly BackendModelSpec[]
  readonly discover: boolean
  /** The price of models that name none (discovered ones included). */
  readonly price?: Price | undefined
  readonly egress: boolean
  readonly maxConcurrency: number
  readonly maxQueueSize: number
  readonly maxWaitInQueueMs: number
  readonly timeouts: { readonly connectMs: number; readonly firstByteMs: number; readonly idleMs: number }
  readonly healthIntervalMs: number
  /** Extra request headers; values may be credentials too. */
  readonly headers: Readonly<Record<string, Secret>>
  readonly anthropicVersion: string
  /** `max_tokens` sent to an anthropic backend for an OpenAI request that sets none; undefined: DEFAULT_ANTHROPIC_MAX_TOKENS. */
  readonly defaultMaxTokens?: number
  /** Where an openai backend takes an Anthropic client's `max_tokens`. */
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens'
  /** The cookbook file it came from, or `admin` for a runtime registration. */
  readonly source: string
}

export type RouteStrategy = 'first-available' | 'least-busy' | 'cheapest'

/** A cookbook route: a name standing for candidate models tried by a strategy. */
export interface RouteSpec {
  readonly name: string
  /** As written: any id a client could send (`model`, `model:profile`, an alias, `backend/model`). */
  readonly candidates: readonly string[]
  readonly strategy: RouteStrategy
  readonly description: string | undefined
}

/** The node config after validation, with paths resolved against the config file. */
export interface Config extends Omit<ConfigFile, 'node' | 'cookbook' | 'model_dirs'> {
  readonly node: { readonly name: string }
  /** Absolute cookbook file or folder. */
  readonly cookbook: string
  /** Absolute folders searched for GGUF files (`model_dirs`). */
  readonly model_dirs: readonly string[]
  /** HERD_HOME: key, secret, learned state, llama cache. */
  readonly home: string
  /** The config file it came from, when there was one. */
  readonly file: string | undefined
}
