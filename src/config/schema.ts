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

export const nodeSchema = z.strictObject({
  /** Human name shown in /cluster/nodes and x-herd-node. Default: the host name. */
  name: z.string().min(1).optional(),
})

export const configSchema = z.strictObject({
  node: nodeSchema.prefault({}),
  http: httpSchema.prefault({}),
  mesh: meshSchema.prefault({}),
  llama: llamaSchema.prefault({}),
  resources: resourcesSchema.prefault({}),
  cache: cacheSchema.prefault({}),
  /** Cookbook file or folder of *.yaml files; relative to the config file. */
  cookbook: z.string().default('cookbook.yaml'),
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

/** A role or task name ("coder", "planner") standing for several models, tried by a strategy. */
export const routeSchema = z.strictObject({
  candidates: z.array(z.string().min(1).max(256)).min(1).max(32),
  /** first-available: in order; least-busy: by the mesh router's scoring; cheapest: by price (in order while none is known). */
  strategy: z.enum(['first-available', 'least-busy', 'cheapest']).default('first-available'),
  description: z.string().optional(),
})

export const cookbookSchema = z.strictObject({
  default_model: z.string().optional(),
  models: z.array(modelSchema).default([]),
  /** Route name → candidates and strategy. */
  routes: z.record(modelName, routeSchema).default({}),
})

export type CookbookFile = z.infer<typeof cookbookSchema>
export type ProfileFile = z.infer<typeof profileSchema>
