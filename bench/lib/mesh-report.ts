/** Markdown for `npm run bench:mesh`: forwarding (direct to B vs via A), gossip convergence, targets. */
import type { ConvergenceResult } from './mesh-gossip.ts'
import type { Summary } from './stats.ts'

/** json: non-streaming, answered at once; burst: SSE, every event at once; paced: SSE at the fake's token rate. */
export type ScenarioKind = 'json' | 'burst' | 'paced'

export interface ForwardScenario {
  kind: ScenarioKind
  stream: boolean
  concurrency: number
  direct: Summary
  via: Summary
  /** CPU (all threads) per answered request, µs: B alone when direct; A and B when via A. */
  cpuUsPerReq: { directB: number; viaA: number; viaB: number }
  /** read/write-family system calls per answered request, as cpuUsPerReq. */
  syscallsPerReq: { directB: number; viaA: number; viaB: number }
}

export interface MeshTarget {
  name: string
  value: number
  limit: number
  /** 'max': value must be ≤ limit; 'min': ≥ limit. */
  kind: 'max' | 'min'
  unit: 'ms' | '%' | 'heartbeats' | '×'
}

const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : 'n/a')
const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : 'n/a')
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : 'n/a')
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : 'n/a')

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---:').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/** via/direct over paired rounds, as "min–max". */
function roundRange(via: number[], direct: number[]): string {
  const r = via.map((v, i) => v / (direct[i] ?? Number.NaN)).filter(Number.isFinite)
  return r.length === 0 ? 'n/a' : `${pct(Math.min(...r))}–${pct(Math.max(...r))}`
}

export function forwardLatencyTable(rows: ForwardScenario[]): string {
  const stream = rows[0]?.stream ?? false
  const [p50, p99] = stream ? (['ttfbP50', 'ttfbP99'] as const) : (['p50', 'p99'] as const)
  const what = stream ? 'TTFB ' : ''
  return table(
    [
      'conc',
      `${what}p50 direct B`,
      `${what}p50 via A`,
      '**added p50**',
      `${what}p99 direct B`,
      `${what}p99 via A`,
      '**added p99**',
      ...(stream ? ['total p50 direct B', 'total p50 via A'] : []),
    ],
    rows.map((s) => [
      String(s.concurrency),
      f2(s.direct[p50]),
      f2(s.via[p50]),
      `**${signed(s.via[p50] - s.direct[p50])}**`,
      f2(s.direct[p99]),
      f2(s.via[p99]),
      `**${signed(s.via[p99] - s.direct[p99])}**`,
      ...(stream ? [f2(s.direct.p50), f2(s.via.p50)] : []),
    ]),
  )
}

export function forwardThroughputTable(rows: ForwardScenario[]): string {
  const stream = rows[0]?.stream ?? false
  const unit = stream ? 'events/s' : 'req/s'
  const rate = (x: Summary): number => (stream ? x.eventsPerSec : x.rps)
  return table(
    [
      'conc',
      `${unit} direct B`,
      `${unit} via A`,
      '**via/direct** (per round)',
      'CPU µs/req B (direct)',
      'CPU µs/req A (via)',
      'CPU µs/req B (via)',
      '**CPU via (A+B) / direct**',
      'syscalls/req B (direct)',
      'syscalls/req A (via)',
      'syscalls/req B (via)',
      'errors',
    ],
    rows.map((s) => [
      String(s.concurrency),
      int(rate(s.direct)),
      int(rate(s.via)),
      `**${pct(rate(s.via) / rate(s.direct))}** (${roundRange(s.via.roundRps, s.direct.roundRps)})`,
      int(s.cpuUsPerReq.directB),
      int(s.cpuUsPerReq.viaA),
      int(s.cpuUsPerReq.viaB),
      `**${f2((s.cpuUsPerReq.viaA + s.cpuUsPerReq.viaB) / s.cpuUsPerReq.directB)}×**`,
      f1(s.syscallsPerReq.directB),
      f1(s.syscallsPerReq.viaA),
      f1(s.syscallsPerReq.viaB),
      String(s.direct.errors + s.via.errors),
    ]),
  )
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] ?? Number.NaN)
}
const max = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs))

/** Summary numbers of one convergence run, in heartbeats as well as ms. */
export function convergenceNumbers(r: ConvergenceResult): {
  discoveryHb: number
  stateMaxMs: number
  stateMedianMs: number
  stateMaxHb: number
  heartbeatMaxMs: number
} {
  const stateMaxMs = max(r.stateMs)
  return {
    discoveryHb: r.discoveryMs / r.gossipIntervalMs,
    stateMaxMs,
    stateMedianMs: median(r.stateMs),
    stateMaxHb: stateMaxMs / r.gossipIntervalMs,
    heartbeatMaxMs: max(r.heartbeatMs),
  }
}

export function convergenceTable(rows: ConvergenceResult[]): string {
  return table(
    [
      'nodes',
      'told of',
      'heartbeat ms',
      'start ms',
      '**discovery** ms',
      '**discovery** heartbeats',
      'conns/node',
      '**state change** (notify) last node, median of trials ms',
      'worst trial ms',
      'worst trial heartbeats',
      'typical node ms',
      'heartbeat-only change, worst ms',
      'CPU busy (discovery / state)',
      'CPU/conn ms',
    ],
    rows.map((r) => {
      const n = convergenceNumbers(r)
      const discovery = Number.isFinite(r.discoveryMs) ? f2(r.discoveryMs) : `timeout (${r.pairsSeen}/${r.nodes * (r.nodes - 1)} pairs)`
      return [
        String(r.nodes),
        r.topology === 'star' ? 'hub only (star)' : 'previous only (chain)',
        String(r.gossipIntervalMs),
        int(r.startMs),
        `**${discovery}**`,
        `**${f2(n.discoveryHb)}**`,
        f2(r.connectionsPerNode),
        `**${f2(n.stateMedianMs)}**`,
        f2(n.stateMaxMs),
        f2(n.stateMaxHb),
        f2(median(r.stateMedianMs)),
        f2(n.heartbeatMaxMs),
        `${pct(r.cpuBusy.discovery)} / ${pct(r.cpuBusy.steady)}`,
        f2(r.discoveryCpuMs / ((r.nodes * (r.nodes - 1)) / 2)),
      ]
    }),
  )
}

export function meshMet(t: MeshTarget): boolean {
  return Number.isFinite(t.value) && (t.kind === 'max' ? t.value <= t.limit : t.value >= t.limit)
}

export function meshTargetTable(targets: MeshTarget[]): string {
  const show = (v: number, unit: MeshTarget['unit'], sign: boolean): string =>
    unit === '%' ? pct(v) : unit === 'ms' ? `${sign ? signed(v) : f2(v)} ms` : unit === '×' ? `${f2(v)}×` : `${f2(v)} heartbeats`
  return [
    '| target | measured | limit | result |',
    '|---|---:|---:|---|',
    ...targets.map(
      (t) =>
        `| ${t.name} | ${show(t.value, t.unit, true)} | ${t.kind === 'max' ? '≤' : '≥'} ${show(t.limit, t.unit, false)} | ${meshMet(t) ? 'met' : '**missed**'} |`,
    ),
  ].join('\n')
}
