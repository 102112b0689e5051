/**
 * Tracing on (`telemetry.otlp_endpoint` set): an OpenTelemetry tracer provider with a
 * bounded batch processor exporting OTLP/HTTP (JSON) to the collector. Nothing global is
 * registered: spans are made from this object's tracer, parents passed explicitly.
 */
import type { Logger } from 'pino'
import { createTraceState, ROOT_CONTEXT, SpanKind, trace, type Context, type Tracer } from '@opentelemetry/api'
import { hrTime } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace'
import { OnceLoggingExporter } from './exporter.ts'
import { OtelSpan } from './span.ts'
import { headerValue, parseTraceparent, type RemoteParent } from './traceparent.ts'
import { SPAN, type ForwardedRequest, type ReceivedRequest, type TraceSpan, type Tracing } from './types.ts'
import { ATTR } from './attributes.ts'

export interface OtelTracingComponents {
  logger: Logger
}

export interface OtelTracingInit {
  /** `telemetry.otlp_endpoint`: the collector's base URL (`/v1/traces` is appended unless the path already ends so). */
  endpoint: string
  /** `telemetry.service_name`. @default herd */
  serviceName?: string
  /** This node's name: the resource's `service.instance.id` and `herd.node`. */
  nodeName: string
  version?: string
  /** `telemetry.sample_ratio`: share of new traces kept (a caller's sampled flag decides for its own). @default 1 */
  sampleRatio?: number
  /** Spans waiting for export at most; more are dropped. @default 2048 */
  maxQueueSize?: number
  /** @default 512 */
  maxExportBatchSize?: number
  /** How often a batch goes out. @default 1000 */
  scheduledDelayMs?: number
  /** One export may take this long. @default 10000 */
  exportTimeoutMs?: number
}

/** The OTLP/HTTP path for traces. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint)
  if (!url.pathname.endsWith('/v1/traces')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`
  return url.toString()
}

/** The endpoint as logs may show it: no user, password or query. */
function shown(url: string): string {
  const u = new URL(url)
  return `${u.origin}${u.pathname}`
}

export class OtelTracing implements Tracing {
  readonly enabled = true
  private readonly components: OtelTracingComponents
  private readonly init: OtelTracingInit
  private provider: TracerProvider | undefined
  private tracer: Tracer | undefined
  private stopping: Promise<void> | undefined

  constructor(components: OtelTracingComponents, init: OtelTracingInit) {
    this.components = components
    this.init = init
  }

  start(): Promise<void> {
    if (this.provider !== undefined || this.stopping !== undefined) return Promise.resolve()
    const url = tracesUrl(this.init.endpoint)
    const exporter = new OnceLoggingExporter(
      new OTLPTraceExporter({ url, timeoutMillis: this.init.exportTimeoutMs ?? 10_000 }),
      this.components.logger,
      shown(url),
    )
    const ratio = this.init.sampleRatio ?? 1
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({
        'service.name': this.init.serviceName ?? 'herd',
        'service.instance.id': this.init.nodeName,
        [ATTR.node]: this.init.nodeName,
        ...(this.init.version === undefined ? {} : { 'service.version': this.init.version }),
      }),
      sampler: new ParentBasedSampler({ root: ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio) }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          maxQueueSize: this.init.maxQueueSize ?? 2048,
          maxExportBatchSize: this.init.maxExportBatchSize ?? 512,
          scheduledDelayMillis: this.init.scheduledDelayMs ?? 1000,
          exportTimeoutMillis: this.init.exportTimeoutMs ?? 10_000,
        }),
      ],
    })
    this.tracer = this.provider.getTracer('herd', this.init.version)
    this.components.logger.info({ endpoint: shown(url), sample_ratio: ratio }, 'exporting traces')
    return Promise.resolve()
  }

  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    const provider = this.provider
    if (provider === undefined) return
    this.stopping ??= (async () => {
      this.tracer = undefined
      const timeoutMs = options.timeoutMs ?? 2_000
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.components.logger.warn({ timeout_ms: timeoutMs }, 'trace export did not finish in time; the rest is dropped')
          resolve()
        }, timeoutMs)
      })
      // shutdown() flushes the batch processor first.
      await Promise.race([provider.shutdown().catch(() => {}), late])
      clearTimeout(timer)
      this.provider = undefined
    })()
    await this.stopping
  }

  receive(request: ReceivedRequest, startedAtMs?: number): TraceSpan | undefined {
    const tracer = this.tracer
    if (tracer === undefined) return undefined
    const parent = parseTraceparent(headerValue(request.headers['traceparent']), headerValue(request.headers['tracestate']))
    const q = request.url.indexOf('?')
    const span = tracer.startSpan(
      SPAN.receive,
      {
        kind: SpanKind.SERVER,
        startTime: hrTime(startedAtMs),
        attributes: { [ATTR.httpMethod]: request.method, [ATTR.urlPath]: q < 0 ? request.url : request.url.slice(0, q) },
      },
      parentContext(parent),
    )
    return new OtelSpan(tracer, span)
  }

  receiveForwarded(request: ForwardedRequest): TraceSpan | undefined {
    const tracer = this.tracer
    if (tracer === undefined) return undefined
    const parent = parseTraceparent(request.headers['traceparent'], request.headers['tracestate'])
    const q = request.path.indexOf('?')
    const span = tracer.startSpan(
      SPAN.receiveForwarded,
      {
        kind: SpanKind.SERVER,
        startTime: hrTime(),
        attributes: {
          [ATTR.httpMethod]: request.method,
          [ATTR.urlPath]: q < 0 ? request.path : request.path.slice(0, q),
          [ATTR.hops]: request.hops,
          [ATTR.requestId]: request.requestId,
        },
      },
      parentContext(parent),
    )
    return new OtelSpan(tracer, span)
  }
}

function parentContext(parent: RemoteParent | undefined): Context {
  if (parent === undefined) return ROOT_CONTEXT
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    // Only the sampled bit is defined; the rest are not ours to pass on.
    traceFlags: parent.flags & 1,
    isRemote: true,
    ...(parent.traceState === undefined ? {} : { traceState: createTraceState(parent.traceState) }),
  })
}
