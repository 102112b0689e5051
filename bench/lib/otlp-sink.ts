/**
 * An OTLP/HTTP collector stand-in for the benches: accepts and decodes span exports,
 * keeps only counts (`GET /stats`). Listens on 127.0.0.1:0 and prints its URL.
 *
 *   node bench/lib/otlp-sink.ts
 */
import { startOtlpReceiver } from '../../test/helpers/otlp-receiver.ts'
import { serveProbes } from './probe.ts'

const sink = await startOtlpReceiver({ keep: false })
process.stdout.write(`${sink.url}\n`)
serveProbes(() => void sink.close())
