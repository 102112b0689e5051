/**
 * Turning one `backends:` entry (from the cookbook, or registered at run time) into the
 * BackendSpec the backends component runs: defaults applied, the base URL normalised and
 * the node's credential read from the environment variable or the file it names. A key
 * file readable by anyone but its owner is refused, naming the file; the key's text never
 * appears in a message.
 */
import { readFile, stat } from 'node:fs/promises'
import { backendSchema, type BackendFile } from './schema.ts'
import type { BackendProtocol, BackendSpec, CredentialRef } from './types.ts'
import { configError, formatPath, toProblems } from './issues.ts'
import { Secret } from './secret.ts'
import { priceOf, resolveFrom } from './util.ts'

/** A key file holds one key: anything longer is not what the user meant to point at. */
export const MAX_KEY_FILE_BYTES = 16 * 1024

export interface BuildBackendOptions {
  /** Base for a relative `api_key_file` (the cookbook's folder, or HERD_HOME). */
  dir: string
  /** Where `api_key_env` is read. Default: process.env. */
  env?: NodeJS.ProcessEnv
  /** The cookbook file, or `admin`. */
  source: string
  /** Prefix of every message, e.g. `cookbook.yaml: backends[office]`. */
  where: string
}

/** The header that carries the node's credential, per protocol. */
export const CREDENTIAL_HEADER: Readonly<Record<BackendProtocol, string>> = { openai: 'authorization', anthropic: 'x-api-key' }

/** Validates a raw entry (a POST body, a line of the registry file) and builds it. */
export async function parseBackend(raw: unknown, options: BuildBackendOptions): Promise<{ file: BackendFile; spec: BackendSpec }> {
  const result = backendSchema.safeParse(raw)
  if (!result.success) throw configError(toProblems(result.error.issues, raw).map((p) => `${options.where}: ${formatPath(p.path, raw)}: ${p.message}`))
  return { file: result.data, spec: await buildBackend(result.data, options) }
}

export async function buildBackend(b: BackendFile, options: BuildBackendOptions): Promise<BackendSpec> {
  const fail = (message: string): never => {
    throw configError([`${options.where}: ${message}`])
  }
  let credential: CredentialRef = null
  let apiKey: Secret | undefined
  if (b.api_key_env !== undefined) {
    credential = { env: b.api_key_env }
    const value = (options.env ?? process.env)[b.api_key_env]?.trim()
    if (value === undefined || value === '') fail(`api_key_env: ${b.api_key_env} is not set (or empty) in the daemon's environment`)
    apiKey = new Secret(value as string)
  } else if (b.api_key_file !== undefined) {
    const path = resolveFrom(options.dir, b.api_key_file)
    credential = { file: path }
    apiKey = await readKeyFile(path, fail)
  }
  const headers: Record<string, Secret> = {}
  for (const [name, value] of Object.entries(b.headers)) {
    const lower = name.toLowerCase()
    if (apiKey !== undefined && lower === CREDENTIAL_HEADER[b.protocol])
      fail(`headers.${name}: the credential comes from ${b.api_key_env ? 'api_key_env' : 'api_key_file'}; keep one`)
    headers[lower] = new Secret(value)
  }
  const seen = new Set<string>()
  const models = b.models.map((m) =>
    typeof m === 'string' ? { name: m, aliases: [] } : { name: m.name, aliases: m.aliases, ...(m.price === undefined ? {} : { price: priceOf(m.price) }) },
  )
  for (const m of models) {
    if (seen.has(m.name)) fail(`models: "${m.name}" is listed twice`)
    seen.add(m.name)
  }
  return {
    name: b.name,
    protocol: b.protocol,
    baseUrl: b.base_url.replace(/\/+$/, ''),
    credential,
    apiKey,
    models,
    discover: b.discover,
    ...(b.price === undefined ? {} : { price: priceOf(b.price) }),
    egress: b.egress,
    maxConcurrency: b.max_concurrency,
    maxQueueSize: b.max_queue_size,
    maxWaitInQueueMs: b.max_wait_in_queue_ms,
    timeouts: { connectMs: b.timeouts.connect_ms, firstByteMs: b.timeouts.first_byte_ms, idleMs: b.timeouts.idle_ms },
    healthIntervalMs: b.health_interval_ms,
    headers,
    anthropicVersion: b.anthropic_version,
    ...(b.default_max_tokens === undefined ? {} : { defaultMaxTokens: b.default_max_tokens }),
    maxTokensField: b.max_tokens_field,
    source: options.source,
  }
}

/** The key in `path`, trimmed; refused when group or others may read the file, or it cannot be read. */
async function readKeyFile(path: string, fail: (message: string) => never): Promise<Secret> {
  const info = await stat(path).catch((err: unknown) => fail(`api_key_file: ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`))
  if (!info.isFile()) fail(`api_key_file: ${path} is not a file`)
  if ((info.mode & 0o077) !== 0) {
    fail(`api_key_file: ${path} may be read by others (mode ${(info.mode & 0o777).toString(8)}); make it readable by its owner only (chmod 600 ${path})`)
  }
  if (info.size > MAX_KEY_FILE_BYTES) fail(`api_key_file: ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes; it should hold one key`)
  const text = await readFile(path, 'utf8').catch((err: unknown) =>
    fail(`api_key_file: ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`),
  )
  const key = text.trim()
  if (key === '') fail(`api_key_file: ${path} is empty`)
  return new Secret(key)
}
