/**
 * One external backend as a target: a request for one of its models takes a concurrency
 * slot, goes upstream with the node's credential and the model field rewritten to the
 * backend's own name, and comes back as an UpstreamResponse whose body streams with
 * backpressure. What the backend answers decides the attempt:
 *
 * - no answer (refused, reset, garbage, no head within `first_byte_ms`), 429 or 5xx before
 *   the first byte: a failed attempt (the router tries the next candidate), counted by
 *   the circuit breaker, `Retry-After` honoured, and a health probe soon;
 * - another 4xx: the client's fault, relayed as it is (its body cleaned of the node's
 *   credential, should the backend echo it);
 * - a body that stops mid-stream (nothing for `idle_ms`): an SSE stream ends with an
 *   error event, another body is cut off.
 *
 * A client of the other protocol (an OpenAI chat on an `anthropic` backend, an Anthropic
 * message on an `openai` one) is served through a Conversion (protocol.ts): the request
 * converted before it takes a slot (a refusal is the client's 400, naming the field), the
 * answer converted back: a JSON answer read whole first (one that cannot be converted is
 * a failed attempt, 502), an event stream event by event, a 4xx body into the client's
 * error envelope.
 */
import { PassThrough, Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { REDACTED, type BackendSpec } from '../config/index.ts'
import { HerdError, sseErrorEvent } from '../errors/index.ts'
import type { BackendModelState, BackendState } from '../mesh/types.ts'
import { relayableHeaders } from '../router/headers.ts'
import type { CircuitBreakers, CircuitState } from '../router/circuit-breaker.ts'
import type { RouteRequest, UpstreamResponse } from '../router/types.ts'
import { BackendClient } from './client.ts'
import { errorCode, probeBackend, ProbeLoop } from './health.ts'
import { ConcurrencyLimit, type Slot } from './limiter.ts'
import { BACKEND_PATHS, conversionFor, type Conversion, type Converter } from './protocol.ts'
import { backendModels } from './models.ts'
import { parseClientBody, readPrefix, upstreamBody } from './bodies.ts'
import { readCapped } from './discovery.ts'

/** A 4xx body relayed to the client is read up to this much (and cleaned of secrets). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024
/** A non-streaming answer to convert is read whole first, up to this much; a longer one is a failed attempt. */
export const MAX_CONVERTED_ANSWER_BYTES = 16 * 1024 * 1024

export interface BackendComponents {
  logger: Logger
  nodeName: string
  /** Shared by every backend of the node, keyed by backend name. */
  circuits: CircuitBreakers
  /** Health or load changed (gossip it). */
  onChange: () => void
  /** The model list changed (discovery). */
  onModels: () => void
  /** OpenAI ⇄ Anthropic conversion; undefined: a backend serves its own protocol only. */
  convert?: Converter
}

export class Backend {
  readonly spec: BackendSpec
  private readonly c: BackendComponents
  private readonly client: BackendClient
  private readonly limit: ConcurrencyLimit
  private readonly probes: ProbeLoop
  private health: BackendState['health'] = 'unknown'
  /** Why the last probe said down (a status or error code). */
  private downReason: string | undefined
  private discovered: readonly string[] = []
  private modelList: BackendModelState[]
  private retired = false

  constructor(spec: BackendSpec, components: BackendComponents) {
    this.spec = spec
    this.c = components
    this.client = new BackendClient(spec)
    this.limit = new ConcurrencyLimit({ ...spec, onChange: components.onChange })
    this.probes = new ProbeLoop((signal) => this.probe(signal), spec.healthIntervalMs)
    this.modelList = backendModels(spec, [])
  }

  get name(): string {
    return this.spec.name
  }

  start(): void {
    this.probes.start()
  }

  /** Takes no new requests; those in flight finish, then the sockets close. */
  async stop(): Promise<void> {
    this.retired = true
    this.limit.rejectWaiting(new HerdError('draining', `backend '${this.name}' was removed`, { retryAfterSeconds: 1 }))
    await this.probes.stop()
    await this.client.close().catch(() => this.client.destroy())
  }

  models(): readonly BackendModelState[] {
    return this.modelList
  }

  /** The model a client's id or alias means here, if this backend serves it. */
  model(id: string): BackendModelState | undefined {
    return this.modelList.find((m) => m.id === id || m.names.includes(id))
  }

  state(): BackendState {
    return {
      name: this.name,
      protocol: this.spec.protocol,
      egress: this.spec.egress,
      health: this.health,
      circuit: circuitOf(this.c.circuits.get(this.name)),
      inUse: this.limit.inUse,
      maxConcurrency: this.spec.maxConcurrency,
      queueLength: this.limit.queueLength,
      maxQueueSize: this.spec.maxQueueSize,
      models: [...this.modelList],
    }
  }

  async serve(req: RouteRequest, model: BackendModelState): Promise<UpstreamResponse> {
    if (this.retired) throw new HerdError('no_route', `backend '${this.name}' was removed`, { retryAfterSeconds: 1 })
    if (req.noEgress === true && this.spec.egress) {
      throw new HerdError('no_route', `backend '${this.name}' is outside the network (egress) and the request says x-herd-no-egress`)
    }
    // A client endpoint of another protocol reaches the backend only through a conversion.
    const conversion = conversionFor(req.endpoint, this.spec.protocol, this.c.convert)
    const path = BACKEND_PATHS[this.spec.protocol][conversion?.endpoint ?? req.endpoint]
    if (path === undefined)
      throw new HerdError('unsupported_endpoint', `'${model.id}' is a ${this.spec.protocol} backend's model and does not serve ${req.path}`, { param: 'model' })
    // The request's own faults (not JSON, nothing the backend's protocol can express) come first: they are the client's 400 whatever the backend's state.
    const clientBody = parseClientBody(req.body)
    const body = upstreamBody(clientBody, model.model, conversion, this.spec)
    if (this.health === 'down') {
      throw new HerdError('no_route', `backend '${this.name}' is down (${this.downReason ?? 'probe failed'}); herd probes it again shortly`, {
        retryAfterSeconds: 2,
      })
    }
    if (!this.c.circuits.allow(this.name)) {
      const wait = Math.ceil(this.c.circuits.remainingMs(this.name) / 1000)
      throw new HerdError('no_route', `backend '${this.name}' is failing; herd tries it again ${wait > 0 ? `in ${wait} s` : 'soon'}`, {
        retryAfterSeconds: Math.max(1, wait),
      })
    }
    const slot = await this.limit.acquire({ signal: req.signal, requestId: req.requestId, ...(req.deadline === undefined ? {} : { deadline: req.deadline }) })
    this.c.circuits.attempt(this.name)
    let res: Dispatcher.ResponseData
    try {
      res = await this.client.request({ method: 'POST', path, body, accept: req.headers['accept'] ?? 'application/json', signal: req.signal })
    } catch (err: unknown) {
      slot.release()
      throw this.failed(req, err)
    }
    const status = res.statusCode
    if (status === 429 || status >= 500) {
      slot.release()
      // Always consume or dump a body: the socket goes back to the pool.
      void res.body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(() => {})
      throw this.refused(status, res.headers['retry-after'])
    }
    this.c.circuits.success(this.name)
    const headers = this.clean(relayableHeaders(res.headers))
    if (status >= 400) return this.errorAnswer(res, headers, slot, conversion)
    const sse = String(res.headers['content-type'] ?? '').includes('text/event-stream')
    if (conversion === undefined) return { status, headers, body: this.guard(res, req, slot, sse), servedBy: this.c.nodeName, guarded: true }
    // A converted stream fails with the HerdError itself (not an event in the backend's shape): the relay ends the client's stream in its own.
    if (sse) return { status, headers, body: conversion.stream(this.guard(res, req, slot, false), clientBody), servedBy: this.c.nodeName, guarded: false }
    return this.convertedAnswer(res, headers, req, slot, conversion)
  }

  /** One health probe (and, with discover, the model list). */
  private async probe(signal: AbortSignal): Promise<boolean> {
    const result = await probeBackend(this.client, this.spec, signal)
    if (signal.aborted) return result.up
    const next = result.up ? 'up' : 'down'
    this.downReason = result.up ? undefined : result.reason
    if (next !== this.health) {
      if (next === 'down') this.c.logger.warn({ backend: this.name, reason: result.reason }, 'backend is down')
      else this.c.logger.info({ backend: this.name }, this.health === 'unknown' ? 'backend is up' : 'backend is up again')
      this.health = next
      this.c.onChange()
    }
    if (result.models !== undefined && result.models.join('\n') !== this.discovered.join('\n')) {
      this.discovered = result.models
      this.modelList = backendModels(this.spec, result.models)
      this.c.logger.info({ backend: this.name, models: this.modelList.length, skipped: result.skipped }, 'backend models discovered')
      this.c.onModels()
    } else if (result.up && result.reason !== undefined) {
      this.c.logger.debug({ backend: this.name, reason: result.reason }, 'backend probe')
    }
    return result.up
  }

  /** No answer: the attempt failed (unless our own client left). */
  private failed(req: RouteRequest, err: unknown): unknown {
    if (req.signal.aborted) {
      this.c.circuits.neutral(this.name)
      return req.signal.reason
    }
    this.c.circuits.failure(this.name)
    this.probes.soon()
    const code = errorCode(err)
    if (code === 'UND_ERR_HEADERS_TIMEOUT')
      return new HerdError('upstream_timeout', `backend '${this.name}' sent no answer within ${this.spec.timeouts.firstByteMs} ms (first_byte_ms)`, {
        cause: err,
      })
    if (code === 'UND_ERR_CONNECT_TIMEOUT')
      return new HerdError('upstream_error', `backend '${this.name}' could not be connected to within ${this.spec.timeouts.connectMs} ms (connect_ms)`, {
        cause: err,
      })
    return new HerdError('upstream_error', `backend '${this.name}' could not be reached (${code})`, { cause: err })
  }

  /** 429 or 5xx before the first byte: a failed attempt, retried elsewhere; the backend's Retry-After keeps its circuit open. */
  private refused(status: number, retryAfterHeader: string | string[] | undefined): HerdError {
    const retryAfterMs = parseRetryAfter(retryAfterHeader)
    this.c.circuits.failure(this.name, retryAfterMs === undefined ? {} : { retryAfterMs })
    if (status !== 429) this.probes.soon()
    const retryAfterSeconds = retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(retryAfterMs / 1000))
    const options = retryAfterSeconds === undefined ? {} : { retryAfterSeconds }
    if (status === 429) return new HerdError('upstream_rate_limited', `backend '${this.name}' is rate limiting herd (429)`, options)
    return new HerdError('upstream_error', `backend '${this.name}' answered ${status}`, options)
  }

  /**
   * A 4xx: relayed as the backend wrote it, but read whole (it is small) so the node's
   * credential can be taken out; through a conversion, in the client's error envelope.
   */
  private async errorAnswer(res: Dispatcher.ResponseData, headers: Record<string, string>, slot: Slot, conversion?: Conversion): Promise<UpstreamResponse> {
    let text: string
    try {
      text = await readPrefix(res.body, MAX_ERROR_BODY_BYTES)
    } catch {
      text = ''
    } finally {
      slot.release()
    }
    const clean = this.scrub(text)
    const out = conversion === undefined ? clean : JSON.stringify(conversion.error(res.statusCode, parsedOrText(clean)))
    const outHeaders = conversion === undefined ? headers : { ...headers, 'content-type': 'application/json' }
    return { status: res.statusCode, headers: outHeaders, body: Readable.from([Buffer.from(out)]), servedBy: this.c.nodeName, guarded: true }
  }

  /** A 2xx JSON answer through a conversion: read whole, then converted; what cannot be is a failed attempt (502). */
  private async convertedAnswer(
    res: Dispatcher.ResponseData,
    headers: Record<string, string>,
    req: RouteRequest,
    slot: Slot,
    conversion: Conversion,
  ): Promise<UpstreamResponse> {
    let read: string | Error
    try {
      read = await readCapped(res.body, MAX_CONVERTED_ANSWER_BYTES)
    } catch (err: unknown) {
      if (req.signal.aborted) throw req.signal.reason
      throw this.brokeOff(err)
    } finally {
      slot.release()
    }
    const unconvertible = (why: string, cause?: unknown): HerdError => {
      this.c.circuits.failure(this.name)
      return new HerdError('upstream_error', `backend '${this.name}': ${why}`, cause === undefined ? {} : { cause })
    }
    if (typeof read !== 'string') throw unconvertible(`its answer is larger than ${MAX_CONVERTED_ANSWER_BYTES} bytes, more than herd converts`)
    let parsed: unknown
    try {
      parsed = JSON.parse(read)
    } catch (err: unknown) {
      throw unconvertible('its answer is not JSON', err)
    }
    let converted: unknown
    try {
      converted = conversion.answer(parsed)
    } catch (err: unknown) {
      throw unconvertible(err instanceof Error ? err.message : String(err), err)
    }
    const body = Readable.from([Buffer.from(JSON.stringify(converted))])
    return { status: res.statusCode, headers: { ...headers, 'content-type': 'application/json' }, body, servedBy: this.c.nodeName, guarded: true }
  }

  /** A body that failed after the head: counted against the backend, and said in herd's words. */
  private brokeOff(err: unknown): HerdError {
    this.c.circuits.failure(this.name)
    this.probes.soon()
    return errorCode(err) === 'UND_ERR_BODY_TIMEOUT'
      ? new HerdError('upstream_timeout', `backend '${this.name}' sent nothing for ${this.spec.timeouts.idleMs} ms (idle_ms)`, { cause: err })
      : new HerdError('upstream_error', `backend '${this.name}' failed mid-answer (${errorCode(err)})`, { cause: err })
  }

  /**
   * The body as it streams, ending the right way on failure (`sseEvents`: with an error
   * event in the client's shape; else destroyed with the HerdError), and freeing the slot
   * whatever happens.
   */
  private guard(res: Dispatcher.ResponseData, req: RouteRequest, slot: Slot, sseEvents: boolean): PassThrough {
    const out = new PassThrough()
    res.body.once('error', (err: Error) => {
      slot.release()
      if (req.signal.aborted || out.destroyed) return
      const failure = this.brokeOff(err)
      if (sseEvents) out.end(sseErrorEvent(failure, req.errorShape))
      else out.destroy(failure)
    })
    res.body.once('end', () => slot.release())
    out.once('close', () => {
      // The client went away: stop the upstream request (the backend stops generating).
      if (!res.body.destroyed) res.body.destroy()
      slot.release()
    })
    res.body.pipe(out)
    return out
  }

  /** The node's secrets (key, header values), wherever a backend echoes them. */
  private secrets(): string[] {
    const all = [this.spec.apiKey, ...Object.values(this.spec.headers)].map((s) => s?.reveal() ?? '')
    return all.filter((s) => s.length >= 4)
  }

  private scrub(text: string): string {
    let out = text
    for (const s of this.secrets()) out = out.split(s).join(REDACTED)
    return out
  }

  /** A backend's headers minus herd's own (`x-herd-*` are for herd to say: another herd as a backend says them about itself) and any echoing a secret. */
  private clean(headers: Record<string, string>): Record<string, string> {
    const secrets = this.secrets()
    return Object.fromEntries(Object.entries(headers).filter(([k, v]) => !k.startsWith('x-herd-') && !secrets.some((s) => v.includes(s))))
  }
}

/** While its one half-open probe is out, a backend takes nothing else: to the router (and peers) that is open. */
function circuitOf(c: CircuitState): BackendState['circuit'] {
  return c.state === 'half-open' && c.probing ? 'open' : c.state
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (v === undefined || v.trim() === '') return undefined
  if (/^\d{1,9}$/.test(v.trim())) return Number(v.trim()) * 1000
  const date = Date.parse(v)
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined
}

/** A JSON body parsed, else its text (an error body of neither protocol keeps its text as the message). */
function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}
