/**
 * Tracing: OpenTelemetry spans for a request's steps on every node it crosses, exported by
 * OTLP/HTTP when `telemetry.otlp_endpoint` is set; `NO_TRACING` (nothing at all) when not.
 */
import type { Logger } from 'pino'
import { NO_TRACING, type Tracing } from './types.ts'

export { NO_TRACING, SPAN, type ForwardedRequest, type ReceivedRequest, type SpanName, type TraceSpan, type Tracing } from './types.ts'
export { ATTR } from './attributes.ts'
export type { OtelTracingInit } from './tracing.ts'
export { formatTraceparent, parseTraceparent, parseTracestate, MAX_TRACEPARENT_LENGTH, MAX_TRACESTATE_LENGTH, type RemoteParent } from './traceparent.ts'
export {
  acquire,
  attempting,
  endAtHead,
  endAtLastByte,
  endFailed,
  endReceive,
  forwardSpan,
  propagate,
  routeAttributes,
  upstreamSpans,
  withTrace,
} from './steps.ts'

/** The `telemetry:` config section. */
export interface TelemetryConfig {
  readonly otlp_endpoint: string | null
  readonly service_name: string
  readonly sample_ratio: number
}

/**
 * Tracing as the config says: off (`NO_TRACING`) unless an endpoint is set. The SDK is
 * imported only then, so a node without tracing neither loads nor holds any of it.
 */
export async function createTracing(components: { logger: Logger }, config: TelemetryConfig, node: { name: string; version?: string }): Promise<Tracing> {
  if (config.otlp_endpoint === null) return NO_TRACING
  const { OtelTracing } = await import('./tracing.ts')
  return new OtelTracing(components, {
    endpoint: config.otlp_endpoint,
    serviceName: config.service_name,
    sampleRatio: config.sample_ratio,
    nodeName: node.name,
    ...(node.version === undefined ? {} : { version: node.version }),
  })
}
