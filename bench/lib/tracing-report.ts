/**
 * bench:proxy's tracing rows: herd with tracing off (the `herd` target, NO_TRACING as the
 * daemon runs without `telemetry.otlp_endpoint`) against the same herd exporting every
 * span to a local OTLP/HTTP sink (`traced`), measured in the same rounds.
 */
import type { ScenarioResult } from './report.ts'

const us = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const ms = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(2) : 'n/a')
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${Math.round(v)}` : 'n/a')
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : 'n/a')

/** Whole-run figures: the sink's span count and each herd process's CPU over every measured request (export work between segments included). */
export interface TracingTotals {
  spans: number
  tracedRequests: number
  cpuUsPerReqOff: number
  cpuUsPerReqOn: number
}

export function tracingTable(results: ScenarioResult[], totals: TracingTotals): string {
  const rows = results.filter((s) => s.runs.traced !== undefined)
  if (rows.length === 0) return ''
  const header = ['mode', 'conc', 'CPU µs/req off', 'CPU µs/req on', '**added µs/req**', 'on/off CPU', 'p50 ms off', 'p50 ms on', 'rate on/off']
  const lines = [
    `| ${header.join(' | ')} |`,
    `|---|${header
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
  ]
  for (const s of rows) {
    const off = s.runs.herd
    const on = s.runs.traced!
    const cOff = s.cpuUsPerReq.herd ?? Number.NaN
    const cOn = s.cpuUsPerReq.traced ?? Number.NaN
    const rate = s.stream ? on.eventsPerSec / off.eventsPerSec : on.rps / off.rps
    const p50 = s.stream ? 'ttfbP50' : 'p50'
    lines.push(
      `| ${s.stream ? 'stream' : 'json'} | ${s.concurrency} | ${us(cOff)} | ${us(cOn)} | **${signed(cOn - cOff)}** | ${pct(cOn / cOff)} | ${ms(off[p50])} | ${ms(on[p50])} | ${pct(rate)} |`,
    )
  }
  return [
    lines.join('\n'),
    '',
    `Whole run: ${us(totals.cpuUsPerReqOff)} µs/req off, ${us(totals.cpuUsPerReqOn)} µs/req on (${signed(totals.cpuUsPerReqOn - totals.cpuUsPerReqOff)} µs, export work between segments included); ` +
      `the sink received ${totals.spans.toLocaleString('en-US')} spans for ${totals.tracedRequests.toLocaleString('en-US')} traced requests ` +
      `(${(totals.spans / Math.max(1, totals.tracedRequests)).toFixed(2)} a request: herd.receive, herd.route, herd.queue, herd.upstream, herd.upstream.body).`,
  ].join('\n')
}
