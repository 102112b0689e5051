/** The markdown report: per mode a latency table and a throughput/CPU table, then the targets. */
import type { Summary } from './stats.ts'

/** direct: straight to the fake upstream; herd: via herd; bare: via a minimal fastify+undici proxy; traced: via herd with tracing on. */
export type TargetName = 'direct' | 'herd' | 'bare' | 'traced'

export interface ScenarioResult {
  stream: boolean
  concurrency: number
  runs: Partial<Record<TargetName, Summary>> & { direct: Summary; herd: Summary }
  /** CPU the serving process spent per request (direct: the fake upstream), µs. */
  cpuUsPerReq: Partial<Record<TargetName, number>>
}

export interface Target {
  name: string
  value: number
  limit: number
  /** 'max': value must be ≤ limit; 'min': value must be ≥ limit. */
  kind: 'max' | 'min'
  unit: 'ms' | '%'
  /** The same measure for the bare proxy: whether any proxy hop could meet the target on this machine. */
  floor?: number
}

const ms = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(2) : 'n/a')
const added = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : 'n/a')
const num = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : 'n/a')

/** herd/direct over paired rounds, as "min–max". */
function ratioRange(herd: number[], direct: number[]): string {
  const ratios = herd.map((h, i) => h / (direct[i] ?? Number.NaN)).filter(Number.isFinite)
  if (ratios.length === 0) return 'n/a'
  return `${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))}`
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---:').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/** Latency: p50/p99 of the whole request (or of the first byte, for streams) per target, and herd's added time. */
export function latencyTable(rows: ScenarioResult[], stream: boolean): string {
  const withBare = rows.some((s) => s.runs.bare)
  const [p50, p99] = stream ? (['ttfbP50', 'ttfbP99'] as const) : (['p50', 'p99'] as const)
  const what = stream ? 'TTFB ' : ''
  const header = ['conc']
  for (const p of ['p50', 'p99']) {
    header.push(
      `${what}${p} direct`,
      ...(withBare ? [`${what}${p} bare`] : []),
      `${what}${p} herd`,
      `**added ${p}**`,
      ...(withBare ? [`herd − bare ${p}`] : []),
    )
  }
  return table(
    header,
    rows.map((s) => {
      const { direct, herd, bare } = s.runs
      const row = [String(s.concurrency)]
      for (const p of [p50, p99]) {
        row.push(
          ms(direct[p]),
          ...(withBare ? [ms(bare?.[p])] : []),
          ms(herd[p]),
          `**${added(herd[p] - direct[p])}**`,
          ...(withBare ? [added(herd[p] - (bare?.[p] ?? Number.NaN))] : []),
        )
      }
      return row
    }),
  )
}

/** Throughput (req/s, or events/s for streams) per target, herd's share of direct, and CPU per request. */
export function throughputTable(rows: ScenarioResult[], stream: boolean): string {
  const withBare = rows.some((s) => s.runs.bare)
  const unit = stream ? 'events/s' : 'req/s'
  const rate = (x: Summary | undefined): number => (x === undefined ? Number.NaN : stream ? x.eventsPerSec : x.rps)
  const header = [
    'conc',
    `${unit} direct`,
    ...(withBare ? [`${unit} bare`] : []),
    `${unit} herd`,
    '**herd/direct** (per round)',
    ...(withBare ? ['bare/direct', 'herd/bare'] : []),
    'CPU µs/req upstream',
    ...(withBare ? ['CPU µs/req bare'] : []),
    'CPU µs/req herd',
    'errors',
  ]
  return table(
    header,
    rows.map((s) => {
      const { direct, herd, bare } = s.runs
      return [
        String(s.concurrency),
        num(rate(direct)),
        ...(withBare ? [num(rate(bare))] : []),
        num(rate(herd)),
        `**${pct(rate(herd) / rate(direct))}** (${ratioRange(herd.roundRps, direct.roundRps)})`,
        ...(withBare ? [pct(rate(bare) / rate(direct)), pct(rate(herd) / rate(bare))] : []),
        num(s.cpuUsPerReq.direct),
        ...(withBare ? [num(s.cpuUsPerReq.bare)] : []),
        num(s.cpuUsPerReq.herd),
        String(direct.errors + herd.errors + (bare?.errors ?? 0)),
      ]
    }),
  )
}

export function met(t: Target): boolean {
  return t.kind === 'max' ? t.value <= t.limit : t.value >= t.limit
}

export function targetTable(targets: Target[]): string {
  const withFloor = targets.some((t) => t.floor !== undefined)
  const out = [`| target | herd | limit | result |${withFloor ? ' bare proxy (floor) |' : ''}`, `|---|---:|---:|---|${withFloor ? '---:|' : ''}`]
  const show = (t: Target, v: number): string => (t.unit === '%' ? pct(v) : `${added(v)} ms`)
  for (const t of targets) {
    const limit = t.unit === '%' ? `≥ ${pct(t.limit)}` : `≤ ${t.limit} ms`
    const floor = t.floor === undefined ? 'n/a' : `${show(t, t.floor)} (${met({ ...t, value: t.floor }) ? 'met' : 'missed'})`
    out.push(`| ${t.name} | ${show(t, t.value)} | ${limit} | ${met(t) ? 'met' : '**missed**'} |${withFloor ? ` ${floor} |` : ''}`)
  }
  return out.join('\n')
}
