/**
 * The HTTP client of one backend: its own undici Pool (so one slow backend cannot hold
 * another's sockets), with the backend's timeouts set on purpose: `connect_ms` for the
 * TCP/TLS connect, `first_byte_ms` until the response head (a model loading behind it
 * counts), `idle_ms` between two body chunks (a stalled stream is given up on). Every
 * request carries the node's credential and the backend's extra headers, and nothing of
 * the client's: herd builds the header set here, so a client's `Authorization` or
 * `x-api-key` cannot reach a backend.
 */
import { Pool, type Dispatcher } from 'undici'
import type { BackendSpec } from '../config/types.ts'
import { HERD_VERSION } from '../version.ts'

export interface BackendCall {
  method: 'GET' | 'POST'
  /** Appended to base_url's path (`/chat/completions`); an `origin` path (`/api/tags`) with `fromOrigin`. */
  path: string
  fromOrigin?: boolean
  body?: Buffer
  accept?: string
  signal: AbortSignal
  /** Shorter bounds for probes. */
  headersTimeoutMs?: number
  bodyTimeoutMs?: number
}

export class BackendClient {
  private readonly spec: BackendSpec
  private readonly pool: Pool
  private readonly origin: string
  private readonly prefix: string

  constructor(spec: BackendSpec) {
    this.spec = spec
    const url = new URL(spec.baseUrl)
    this.origin = url.origin
    this.prefix = url.pathname.replace(/\/+$/, '')
    this.pool = new Pool(this.origin, {
      // One more than the limit lets a health probe through while every slot is busy.
      connections: spec.maxConcurrency + 1,
      connect: { timeout: spec.timeouts.connectMs },
      headersTimeout: spec.timeouts.firstByteMs,
      bodyTimeout: spec.timeouts.idleMs,
      keepAliveTimeout: 30_000,
    })
  }

  request(call: BackendCall): Promise<Dispatcher.ResponseData> {
    return this.pool.request({
      method: call.method,
      path: call.fromOrigin === true ? call.path : this.prefix + call.path,
      headers: this.headers(call),
      body: call.method === 'GET' ? null : (call.body ?? null),
      signal: call.signal,
      ...(call.headersTimeoutMs === undefined ? {} : { headersTimeout: call.headersTimeoutMs }),
      ...(call.bodyTimeoutMs === undefined ? {} : { bodyTimeout: call.bodyTimeoutMs }),
    })
  }

  /** Waits for requests in flight, then closes the sockets. */
  close(): Promise<void> {
    return this.pool.close()
  }

  destroy(): Promise<void> {
    return this.pool.destroy()
  }

  /** Herd's own header set: the backend's extra headers, then the credential (which wins). */
  private headers(call: BackendCall): Record<string, string> {
    const out: Record<string, string> = { accept: call.accept ?? 'application/json', 'user-agent': `herd/${HERD_VERSION}` }
    if (call.method === 'POST') out['content-type'] = 'application/json'
    for (const [name, value] of Object.entries(this.spec.headers)) out[name] = value.reveal()
    const key = this.spec.apiKey?.reveal()
    if (this.spec.protocol === 'anthropic') {
      out['anthropic-version'] = this.spec.anthropicVersion
      if (key !== undefined) out['x-api-key'] = key
    } else if (key !== undefined) {
      out['authorization'] = `Bearer ${key}`
    }
    return out
  }
}
