/**
 * Is a backend up? One GET {base_url}/models per `health_interval_ms` (with the node's
 * credential: that is part of being usable), sooner after a failed request, and, while
 * down, after 1 s doubling up to the interval, so a backend that comes back is seen soon.
 * With `discover: true` the same answer is the model list.
 */
import type { BackendSpec } from '../config/types.ts'
import type { BackendClient } from './client.ts'
import { MAX_DISCOVERY_BYTES, parseModelList, readCapped } from './discovery.ts'

/** The longest a probe may take, whatever the backend's timeouts. */
export const PROBE_TIMEOUT_MS = 10_000
/** Probes after a failure come no closer together than this. */
const MIN_GAP_MS = 250
const FIRST_RETRY_MS = 1_000

export interface ProbeResult {
  up: boolean
  /** Why it is down (no secrets: a status or an error code). */
  reason?: string
  /** Discovered model names (discover: true and the list was read). */
  models?: string[]
  skipped?: number
}

export async function probeBackend(client: BackendClient, spec: BackendSpec, signal: AbortSignal): Promise<ProbeResult> {
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)])
  const call = { method: 'GET' as const, signal: bounded, headersTimeoutMs: Math.min(spec.timeouts.firstByteMs, PROBE_TIMEOUT_MS) }
  try {
    let res = await client.request({ ...call, path: '/models' })
    // Ollama before its OpenAI-compatible /v1/models: the native list at the origin.
    if (res.statusCode === 404 && spec.discover) {
      await res.body.dump()
      res = await client.request({ ...call, path: '/api/tags', fromOrigin: true })
    }
    const status = res.statusCode
    if (status >= 500 || status === 401 || status === 403) {
      await res.body.dump()
      return { up: false, reason: status === 401 || status === 403 ? `it refused herd's credential (${status})` : `it answered ${status}` }
    }
    if (!spec.discover || status >= 300) {
      await res.body.dump()
      return { up: true }
    }
    const text = await readCapped(res.body, MAX_DISCOVERY_BYTES)
    const list = text instanceof Error ? text : parseModelList(text)
    if (list instanceof Error) return { up: true, reason: `model list not read: ${list.message}` }
    return { up: true, models: list.models, skipped: list.skipped }
  } catch (err: unknown) {
    return { up: false, reason: errorCode(err) }
  }
}

/** An error's code (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`): never its message, which can hold addresses. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') return code
  const name = (err as { name?: unknown } | null)?.name
  return typeof name === 'string' ? name : 'error'
}

/** Runs `probe` on a schedule; one at a time. */
export class ProbeLoop {
  private readonly probe: (signal: AbortSignal) => Promise<boolean>
  private readonly intervalMs: number
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private failures = 0
  private lastRun = 0

  constructor(probe: (signal: AbortSignal) => Promise<boolean>, intervalMs: number) {
    this.probe = probe
    this.intervalMs = intervalMs
  }

  start(): void {
    if (this.controller !== undefined) return
    this.controller = new AbortController()
    this.run()
  }

  /** Probe as soon as allowed (after a failed request). */
  soon(): void {
    if (this.controller === undefined) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    this.schedule(Math.max(0, this.lastRun + MIN_GAP_MS - Date.now()))
  }

  async stop(): Promise<void> {
    const controller = this.controller
    if (controller === undefined) return
    this.controller = undefined
    controller.abort()
    clearTimeout(this.timer)
    await this.running
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.run(), ms)
    this.timer.unref()
  }

  private run(): void {
    const controller = this.controller
    if (controller === undefined || this.running !== undefined) return
    this.lastRun = Date.now()
    this.running = this.probe(controller.signal)
      .catch(() => false)
      .then((up) => {
        this.running = undefined
        if (this.controller !== controller) return
        this.failures = up ? 0 : this.failures + 1
        if (this.again) {
          this.again = false
          this.schedule(MIN_GAP_MS)
          return
        }
        this.schedule(up ? this.intervalMs : Math.min(this.intervalMs, FIRST_RETRY_MS * 2 ** (this.failures - 1)))
      })
  }
}
