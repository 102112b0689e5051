/** The markdown report: per mode a latency table and a throughput/CPU table, then the targets. */
import type { Summary } from './stats.ts'

/**
 * direct: straight to the fake upstream; herd: via herd; bare: via a minimal fastify+undici
 * proxy; bare-http: via node:http+undici, no framework; herd-all: herd with everything a
 * production node runs on (tenant keys with limits, usage accounting, metrics; tracing off);
 * traced: herd with tracing on, exporting to a sink.
 */
export type TargetName = 'direct' | 'herd' | 'bare' | 'bare-http' | 'herd-all' | 'traced'

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
  /** ms: added latency; %: a share; x: a ratio; µs: CPU time. */
  unit: 'ms' | '%' | 'x' | 'µs'
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
  const out = [
    `| target | herd | limit | result |${withFloor ? ' floor: bare proxy (CPU rows: bare-http) |' : ''}`,
    `|---|---:|---:|---|${withFloor ? '---:|' : ''}`,
  ]
  const show = (t: Target, v: number): string =>
    t.unit === '%' ? pct(v) : t.unit === 'x' ? `${v.toFixed(2)}×` : t.unit === 'µs' ? `${added(v).replace(/\.\d+$/, '')} µs` : `${added(v)} ms`
  for (const t of targets) {
    const bound = t.unit === '%' ? pct(t.limit) : t.unit === 'x' ? `${t.limit}×` : `${t.limit} ${t.unit}`
    const limit = `${t.kind === 'max' ? '≤' : '≥'} ${bound}`
    const floor = t.floor === undefined ? 'n/a' : `${show(t, t.floor)} (${met({ ...t, value: t.floor }) ? 'met' : 'missed'})`
    out.push(`| ${t.name} | ${show(t, t.value)} | ${limit} | ${met(t) ? 'met' : '**missed**'} |${withFloor ? ` ${floor} |` : ''}`)
  }
  return out.join('\n')
}

/** The proxies of a run, in the order the CPU tables show them (direct is the upstream itself). */
const PROXIES: readonly TargetName[] = ['bare-http', 'bare', 'herd', 'herd-all']

/**
 * CPU per request of every serving process (the fake upstream's for direct), and herd's
 * (and herd-all's) as a multiple of the bare fastify+undici proxy's in the same run.
 */
export function cpuTable(rows: ScenarioResult[]): string {
  const present = PROXIES.filter((n) => rows.some((s) => s.cpuUsPerReq[n] !== undefined))
  const ratios = (['herd', 'herd-all'] as const).filter((n) => present.includes(n) && present.includes('bare'))
  const header = ['conc', 'upstream', ...present, ...ratios.map((n) => `**${n}/bare**`)]
  return table(
    header,
    rows.map((s) => {
      const bare = s.cpuUsPerReq.bare ?? Number.NaN
      return [
        String(s.concurrency),
        num(s.cpuUsPerReq.direct),
        ...present.map((n) => num(s.cpuUsPerReq[n])),
        ...ratios.map((n) => `**${((s.cpuUsPerReq[n] ?? Number.NaN) / bare).toFixed(2)}×**`),
      ]
    }),
  )
}

/**
 * CPU per SSE event: (streaming CPU per request − non-streaming CPU per request) / events,
 * per proxy at each concurrency, and each one's excess over the bare fastify+undici proxy.
 */
export function perEventTable(rows: ScenarioResult[], events: number): string {
  const present = PROXIES.filter((n) => rows.some((s) => s.cpuUsPerReq[n] !== undefined))
  const others = present.filter((n) => n !== 'bare' && present.includes('bare'))
  const header = ['conc', 'upstream', ...present, ...others.map((n) => `${n} − bare`)]
  const levels = [...new Set(rows.map((s) => s.concurrency))]
  const one = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : 'n/a')
  return table(
    header,
    levels.map((c) => {
      const perEvent = (n: TargetName): number => {
        const st = rows.find((s) => s.stream && s.concurrency === c)?.cpuUsPerReq[n]
        const js = rows.find((s) => !s.stream && s.concurrency === c)?.cpuUsPerReq[n]
        return st === undefined || js === undefined ? Number.NaN : (st - js) / events
      }
      return [String(c), one(perEvent('direct')), ...present.map((n) => one(perEvent(n))), ...others.map((n) => one(perEvent(n) - perEvent('bare')))]
    }),
  )
}
