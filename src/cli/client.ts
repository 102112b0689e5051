/**
 * Talking to a running node from the CLI: its URL from the config's `http.listen` (or
 * `--url`), its own certificate trusted when it serves TLS, and the operator's key (`--key`,
 * else the config's first admin key, else its first API key).
 */
import { readFile } from 'node:fs/promises'
import { Agent, request } from 'undici'
import { loadConfig } from '../config/index.ts'

export interface NodeClient {
  base: string
  /** The answer's JSON; a 4xx/5xx becomes an Error carrying the node's message. */
  call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, options?: CallOptions): Promise<unknown>
  close(): Promise<void>
}

export interface CallOptions {
  /** Ends the call (e.g. `herd top` quitting mid-refresh). */
  signal?: AbortSignal
  /** For the head and for gaps in the body; default 10 s. */
  timeoutMs?: number
}

export async function nodeClient(values: { config?: string | undefined; url?: string | undefined; key?: string | undefined }): Promise<NodeClient> {
  const config = await loadConfig(values.config === undefined ? {} : { file: values.config })
  const scheme = config.http.tls === null ? 'http' : 'https'
  const base = values.url ?? `${scheme}://${config.http.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')}`
  const dispatcher =
    config.http.tls === null ? undefined : new Agent({ connect: { ca: await readFile(config.http.tls.cert_file), checkServerIdentity: () => undefined } })
  const key = values.key ?? config.http.admin_keys[0] ?? config.http.api_keys[0]
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` }
  return {
    base,
    async call(method, path, body, options = {}) {
      const res = await request(new URL(path, base), {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: options.timeoutMs ?? 10_000,
        bodyTimeout: options.timeoutMs ?? 10_000,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(dispatcher ? { dispatcher } : {}),
      }).catch((err: unknown) => {
        throw unreachable(base, err)
      })
      const answer: unknown = await res.body.json().catch(() => ({}))
      if (res.statusCode >= 400) {
        const message = (answer as { error?: { message?: unknown } }).error?.message
        throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${typeof message === 'string' ? message : JSON.stringify(answer)}`)
      }
      return answer
    },
    close: async () => dispatcher?.close(),
  }
}

/** A node that does not answer: say which URL was tried and how to point elsewhere. */
export function unreachable(base: string, err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code
  const why = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)
  return new Error(
    `no herd node answers at ${base} (${why}). Is \`herd start\` running there? ` +
      `Point elsewhere with --url http://HOST:PORT, or --config FILE for a node with another http.listen.`,
    { cause: err },
  )
}
