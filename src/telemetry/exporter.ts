/**
 * The OTLP exporter, wrapped so an unreachable collector costs one warn line per outage
 * (the SDK would otherwise report every failed batch to a global handler, or nowhere).
 */
import type { Logger } from 'pino'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace'

export class OnceLoggingExporter implements SpanExporter {
  private readonly inner: SpanExporter
  private readonly logger: Logger
  private readonly endpoint: string
  private failing = false

  constructor(inner: SpanExporter, logger: Logger, endpoint: string) {
    this.inner = inner
    this.logger = logger
    this.endpoint = endpoint
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) this.logger.info({ endpoint: this.endpoint }, 'trace export works again')
        this.failing = false
      } else if (!this.failing) {
        this.failing = true
        // The SDK's errors name the collector's address and the HTTP status, nothing of the spans.
        this.logger.warn(
          { endpoint: this.endpoint, err: result.error?.message ?? 'unknown error', dropped: spans.length },
          'trace export failed; spans are dropped until it works again (logged once)',
        )
      }
      resultCallback(result)
    })
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown()
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve()
  }
}
