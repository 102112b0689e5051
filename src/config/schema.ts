/**
 * The shape of herd's two YAML files: the node config and the cookbook. Both are strict
 * (an unknown key is an error naming that key) and every default lives here, so SPEC.md
 * can be checked against one file.
 */
import { z } from 'zod'

const port = z.number().int().min(1).max(65535)

export const httpSchema = z.strictObject({
  /** host:port the HTTP API listens on. */
  listen: z
    .string()
    .regex(/^.+:\d+$/, 'expected host:port')
    .default('127.0.0.1:8080'),
  /** Keys accepted on every route but health, readiness, version (and metrics). Empty: no authentication. */
  api_keys: z.array(z.string().min(1)).default([]),
  /** The only keys admin routes (`/admin/*`) take, when set; they pass every other protected route too. Empty: any of api_keys is an admin key. */
  admin_keys: z.array(z.string().min(1)).default([]),
  /** /metrics needs an API key too (default: open, for scrapers). */
  metrics_auth: z.boolean().default(false),
  body_limit_bytes: z
    .number()
    .int()
    .positive()
    .default(16 * 1024 * 1024),
  /** How long in-flight requests may run after SIGTERM before children are stopped. */
  drain_timeout_ms: z.number().int().nonnegative().default(30_000),
  /** Browser origins allowed to call the API (CORS); `['*']` for any. Empty: none. */
  cors_origins: z
    .array(z.string().regex(/^(\*|[a-z][a-z0-9+.-]*:\/\/[^/\s]+)$/, "expected '*' or an origin like https://app.example.com (scheme://host[:port], no path)"))
    .default([]),
  /** Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this PEM certificate and key. */
  tls: z
    .strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) })
    .nullable()
    .default(null),
})

export const meshSchema = z.strictObject({
  enabled: z.boolean().default(false),
  listen: z.array(z.string()).default(['/ip4/0.0.0.0/tcp/7946']),
  mdns: z.boolean().default(true),
  peers: z.array(z.string()).default([]),
  secret_file: z.string().nullable().default(null),
  allow: z.array(z.string()).default([]),
  gossip_interval_ms: z.number().int().min(50).default(1000),
  /** A peer silent for this long mid-request is given up on. */
  peer_timeout_ms: z.number().int().min(100).default(10_000),
  max_hops: z.number().int().min(1).default(2),
})

export const llamaSchema = z.strictObject({
  /** Path to llama-server, or `auto`: PATH, then the herd cache, else build. */
  server: z.string().min(1).default('auto'),
  /** Extra cmake args for an automatic build (e.g. `-DGGML_CUDA=ON`). */
  cmake_args: z.array(z.string()).default([]),
  /** First port tried for llama-server children; 0 lets the OS choose. */
  port_base: z.union([port, z.literal(0)], { error: 'expected a port (1-65535) or 0' }).default(0),
})

export const resourcesSchema = z.strictObject({
  max_vram_mb: z.number().int().positive().nullable().default(null),
  max_sysmem_mb: z.number().int().positive().nullable().default(null),
  nvidia_smi: z.string().default('nvidia-smi'),
  sample_interval_ms: z.number().int().min(100).default(3000),
})

/** The largest price one may write (currency units per million tokens): keeps cost arithmetic far from overflow. */
export const MAX_PRICE_PER_MTOK = 1_000_000

/** What a million tokens cost, in the node's `tenants.currency` (cost accounting, the `cheapest` strategy, budget downgrades). */
export const priceSchema = z.strictObject({
  input_per_mtok: z.number().nonnegative().max(MAX_PRICE_PER_MTOK),
  output_per_mtok: z.number().nonnegative().max(MAX_PRICE_PER_MTOK),
})

export const tenantsSchema = z.strictObject({
  /** The span a key's rpm and tpm count over. Shorter only for tests; every node of a mesh must agree. */
  rate_window_ms: z.number().int().min(1200).default(60_000),
  /** A key's changed counters reach peers within this long: the gossip lag in the overshoot bound. */
  counter_push_ms: z.number().int().min(1).max(10_000).default(50),
  /** The one currency of this node's prices and spend (a key's budget is counted in it). */
  currency: z
    .string()
    .regex(/^[a-z]{3}$/, 'three lower-case letters, e.g. usd')
    .default('usd'),
  /**
   * What this node's hardware costs an hour, in `currency`: a local profile without a
   * `price` then costs cost_per_hour / (3600 × its learned tokens per second) per token. 0: free.
   */
  cost_per_hour: z.number().nonnegative().max(MAX_PRICE_PER_MTOK).default(0),
})

export const cacheSchema = z.strictObject({
  /** Answer repeated deterministic requests from memory (SPEC "Response cache"). Off by default, as in LiteLLM, Portkey and Cloudflare's AI Gateway. */
  enabled: z.boolean().default(false),
  /** Bytes all entries may hold; the least recently used go first. */
  max_bytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  /** The largest answer stored; bigger ones pass through uncached. */
  max_entry_bytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  ttl_seconds: z.number().positive().default(3600),
  /** One cache for every API key (default: one per key, so no key sees another's answers). */
  shared: z.boolean().default(false),
  /** Opt-in: also reuse an answer to a request that differs only in the wording of its last user turn. */
  semantic: z
    .strictObject({
      /** An embedding model the mesh serves (any id a client could send). */
      embedding_model: z.string().min(1),
      /** Least cosine similarity of the two prompts' embeddings. */
      threshold: z.number().gt(0).max(1).default(0.95),
      /** Prompts the linear scan covers at most. */
      max_entries: z.number().int().positive().max(100_000).default(1000),
      /** A slower embedding is given up on (the request goes uncached). */
      timeout_ms: z.number().int().positive().default(2000),
    })
    .nullable()
    .default(null),
})

export const telemetrySchema = z.strictObject({
  /** OTLP/HTTP collector base URL (`/v1/traces` is appended unless the path ends so). Null: tracing off, at no cost. */
  otlp_endpoint: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://127.0.0.1:4318' })
    .nullable()
    .default(null),
  /** The `service.name` of herd's spans; each node's name is `service.instance.id`. */
  service_name: z.string().min(1).max(256).default('herd'),
  /** Share of new traces kept (0–1); a caller's `traceparent` sampled flag decides for its own trace. */
  sample_ratio: z.number().min(0).max(1).default(1),
})

export const nodeSchema = z.strictObject({
  /** Human name shown in /cluster/nodes and x-herd-node. Default: the host name. */
  name: z.string().min(1).optional(),
})

/** Folders `model_dirs` may name. */
export const MAX_MODEL_DIRS = 64

export const configSchema = z.strictObject({
  node: nodeSchema.prefault({}),
  http: httpSchema.prefault({}),
  mesh: meshSchema.prefault({}),
  llama: llamaSchema.prefault({}),
  resources: resourcesSchema.prefault({}),
  tenants: tenantsSchema.prefault({}),
  cache: cacheSchema.prefault({}),
  telemetry: telemetrySchema.prefault({}),
  /** Cookbook file or folder of *.yaml files; relative to the config file. */
  cookbook: z.string().default('cookbook.yaml'),
  /** Folders searched (recursively) for GGUF files, each served as a model with a `default` profile; relative to the config file. */
  model_dirs: z.array(z.string().min(1, 'expected a folder')).max(MAX_MODEL_DIRS).default([]),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** `auto`: readable lines on a terminal, JSON lines otherwise. */
  log_format: z.enum(['auto', 'json', 'pretty']).default('auto'),
})

export type ConfigFile = z.infer<typeof configSchema>

const argsSchema = z.union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' })

export const profileSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
  description: z.string().optional(),
  enabled: z.boolean().default(true),
  model_path: z.string().optional(),
  /** Hugging Face repo for llama-server's own `-hf` download (llamesh compatible). */
  hf_repo: z.string().optional(),
  hf_file: z.string().optional(),
  llama_server_args: argsSchema.default([]),
  idle_timeout_seconds: z.number().nonnegative().default(300),
  startup_timeout_seconds: z.number().positive().default(120),
  max_instances: z.number().int().positive().default(1),
  max_queue_size: z.number().int().nonnegative().default(64),
  max_wait_in_queue_ms: z.number().int().positive().default(60_000),
  max_request_duration_ms: z.number().int().positive().optional(),
  download_timeout_seconds: z.number().positive().optional(),
  min_eviction_tenure_secs: z.number().nonnegative().optional(),
  estimated_vram_mb: z.number().nonnegative().optional(),
  estimated_sysmem_mb: z.number().nonnegative().optional(),
  /** Default: free (0), or `tenants.cost_per_hour` spread over the tokens this node makes. */
  price: priceSchema.optional(),
})

const modelName = z.string().regex(/^[A-Za-z0-9._/-]+$/, 'letters, digits, ".", "_", "/" and "-" only')

export const modelSchema = z.strictObject({
  name: modelName,
  description: z.string().optional(),
  enabled: z.boolean().default(true),
  /** Other names clients may use for this model. */
  aliases: z.array(modelName).default([]),
  /** Models (any id a client could send) tried in order when none can serve this one before the first byte. */
  fallbacks: z.array(z.string().min(1).max(256)).max(16).default([]),
  profiles: z.array(profileSchema).min(1),
})

/** Models one backend may list (or discover); more discovered ones are left out. */
export const MAX_BACKEND_MODELS = 1024
/** Backends one node may have (cookbook and runtime registrations together). */
export const MAX_BACKENDS = 64
/** Extra headers one backend may send upstream. */
export const MAX_BACKEND_HEADERS = 32
export const MAX_BACKEND_HEADER_VALUE = 8 * 1024

/** The first part of a backend model's id (`name/model`). */
export const backendNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-" only, at most 64')

/** A model's name on the backend: vLLM, OpenRouter and Ollama names hold '/', ':' and '@'. */
const upstreamModel = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._:/@+-]+$/, 'letters, digits and "._:/@+-" only')

/** Request headers herd sets itself: framing, and what would redirect the request. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect'])

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Printable ASCII and tabs: no CR/LF (header injection) or other control bytes. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/

const extraHeaders = z
  .record(z.string(), z.string().max(MAX_BACKEND_HEADER_VALUE).regex(HEADER_VALUE, 'control characters are not allowed in a header value'))
  .superRefine((headers, ctx) => {
    const names = Object.keys(headers)
    if (names.length > MAX_BACKEND_HEADERS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_BACKEND_HEADERS} headers` })
    for (const name of names) {
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid header name' })
      else if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'is set by herd itself' })
    }
  })

/** `http(s)://host[:port][/path]`: no user:password@ (credentials go in api_key_env/api_key_file), no query or fragment (paths are appended). */
const baseUrl = z.string().superRefine((value, ctx) => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL' })
    return
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL' })
  else if (url.username !== '' || url.password !== '')
    ctx.addIssue({ code: 'custom', message: 'must not hold user:password@ (give the credential with api_key_env or api_key_file)' })
  else if (url.search !== '' || url.hash !== '') ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment' })
})

export const backendSchema = z
  .strictObject({
    name: backendNameSchema,
    /** openai: vLLM, Ollama's /v1, LM Studio, OpenRouter, OpenAI, another herd. anthropic: Anthropic's Messages API. */
    protocol: z.enum(['openai', 'anthropic']),
    /** Paths are appended to it: `{base_url}/chat/completions`, `{base_url}/models`. */
    base_url: baseUrl,
    /** The node's credential, by reference: an environment variable of the daemon… */
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional(),
    /** …or a file (mode 600) holding it. */
    api_key_file: z.string().min(1).optional(),
    models: z
      .array(z.union([upstreamModel, z.strictObject({ name: upstreamModel, aliases: z.array(modelName).default([]), price: priceSchema.optional() })]))
      .max(MAX_BACKEND_MODELS)
      .default([]),
    /** The price of its models that do not name their own (discovered ones included). Absent: unknown. */
    price: priceSchema.optional(),
    /** List the models from GET {base_url}/models, refreshed with every health probe. */
    discover: z.boolean().default(false),
    /** The backend is outside your network (a cloud API): requests with `x-herd-no-egress: 1` never go there. */
    egress: z.boolean().default(false),
    max_concurrency: z.number().int().positive().default(32),
    max_queue_size: z.number().int().nonnegative().default(64),
    max_wait_in_queue_ms: z.number().int().positive().default(60_000),
    timeouts: z
      .strictObject({
        connect_ms: z.number().int().positive().default(3_000),
        /** Until the response head: a cold model behind the backend may load first. */
        first_byte_ms: z.number().int().positive().default(120_000),
        /** The longest gap between two body chunks (tokens). */
        idle_ms: z.number().int().positive().default(30_000),
      })
      .prefault({}),
    /** GET {base_url}/models this often (and soon after a failure). */
    health_interval_ms: z.number().int().min(100).default(15_000),
    /** Extra request headers sent upstream (values are treated as secrets). */
    headers: extraHeaders.default({}),
    /** Sent as `anthropic-version` to anthropic backends. */
    anthropic_version: z.string().min(1).max(64).default('2023-06-01'),
    /** anthropic backends: `max_tokens` for an OpenAI client's request that sets none (Anthropic requires one). Default 4096 (DEFAULT_ANTHROPIC_MAX_TOKENS). */
    default_max_tokens: z.number().int().positive().optional(),
    /** openai backends: where an Anthropic client's `max_tokens` goes (OpenAI's reasoning models take only `max_completion_tokens`). */
    max_tokens_field: z.enum(['max_tokens', 'max_completion_tokens']).default('max_tokens'),
  })
  .refine((b) => b.api_key_env === undefined || b.api_key_file === undefined, {
    message: 'api_key_env and api_key_file are both set; keep one',
    path: ['api_key_file'],
  })
  .refine((b) => b.models.length > 0 || b.discover, { message: 'needs models: [...] or discover: true', path: ['models'] })

/** A role or task name ("coder", "planner") standing for several models, tried by a strategy. */
export const routeSchema = z.strictObject({
  candidates: z.array(z.string().min(1).max(256)).min(1).max(32),
  /** first-available: in order; least-busy: by the mesh router's scoring; cheapest: by price (unknown prices last). */
  strategy: z.enum(['first-available', 'least-busy', 'cheapest']).default('first-available'),
  description: z.string().optional(),
})

/** `equivalents:` groups one cookbook file may hold, and models in one group. */
export const MAX_EQUIVALENT_GROUPS = 64
export const MAX_EQUIVALENT_GROUP = 16

export const cookbookSchema = z.strictObject({
  default_model: z.string().optional(),
  models: z.array(modelSchema).default([]),
  /** Route name → candidates and strategy. */
  routes: z.record(modelName, routeSchema).default({}),
  /** External OpenAI- or Anthropic-protocol endpoints whose models herd serves as `name/model`. */
  backends: z.array(backendSchema).max(MAX_BACKENDS).default([]),
  /** Groups of models a user accepts as substitutes (any id a client could send): where a `downgrade` key over budget goes. */
  equivalents: z
    .array(z.array(z.string().min(1).max(256)).min(2).max(MAX_EQUIVALENT_GROUP))
    .max(MAX_EQUIVALENT_GROUPS)
    .default([]),
})

export type BackendFile = z.infer<typeof backendSchema>

export type CookbookFile = z.infer<typeof cookbookSchema>
export type ProfileFile = z.infer<typeof profileSchema>
