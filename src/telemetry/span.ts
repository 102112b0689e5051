/**
 * A TraceSpan over an OpenTelemetry span. Parents are passed explicitly (no context
 * manager, no AsyncLocalStorage): a child is started from this span's context.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api'
import { hrTime } from '@opentelemetry/core'
import { ATTR } from './attributes.ts'
import { formatTraceparent } from './traceparent.ts'
import type { SpanAttributes, SpanName, SpanValue, TraceSpan } from './types.ts'

export class OtelSpan implements TraceSpan {
  private readonly tracer: Tracer
  readonly span: Span
  private ended = false

  constructor(tracer: Tracer, span: Span) {
    this.tracer = tracer
    this.span = span
  }

  child(name: SpanName, attributes?: SpanAttributes, kind?: 'client' | 'internal'): TraceSpan {
    const options = {
      kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
      startTime: hrTime(),
      ...(attributes === undefined ? {} : { attributes: defined(attributes) }),
    }
    return new OtelSpan(this.tracer, this.tracer.startSpan(name, options, trace.setSpan(ROOT_CONTEXT, this.span)))
  }

  set(key: string, value: SpanValue): void {
    this.span.setAttribute(key, value as Attributes[string])
  }

  fail(err: unknown): void {
    if (this.ended) return
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorType(err) })
    this.span.setAttribute(ATTR.errorType, errorType(err))
  }

  end(atMs?: number): void {
    if (this.ended) return
    this.ended = true
    // Explicit times, all from one clock (timeOrigin + performance.now()): the SDK's own
    // anchor each span to Date.now(), whose milliseconds make siblings overlap by up to one.
    this.span.end(hrTime(atMs))
  }

  propagation(): Record<string, string> {
    const ctx = this.span.spanContext()
    const headers: Record<string, string> = { traceparent: formatTraceparent(ctx.traceId, ctx.spanId, ctx.traceFlags) }
    const state = ctx.traceState?.serialize()
    if (state !== undefined && state !== '') headers['tracestate'] = state
    return headers
  }
}

/** OpenTelemetry drops undefined values with a diagnostic; leave them out instead. */
export function defined(attributes: SpanAttributes): Attributes {
  const out: Attributes = {}
  for (const key in attributes) {
    const value = attributes[key]
    if (value !== undefined) out[key] = value as Attributes[string]
  }
  return out
}

/**
 * What a failure is called on a span: a HerdError's stable code, else the error's name.
 * Never its message: a message may quote a request (model names are fine, prompts are not).
 */
export function errorType(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code)) return code
  return err instanceof Error ? err.name : 'error'
}
