/** The markdown of `bench:placement`: the scenario, one row per policy, the targets, the experiments. */
import type { Knobs, ModelSpec, NodeSpec, Workload } from './placement-scenario.ts'
import { coldStartMs, describeNode, profileId, tokensPerSecond } from './placement-scenario.ts'
import type { RunResult } from './placement-sim.ts'

const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'n/a')
const failed = (r: RunResult): number => Object.values(r.failed).reduce((a, b) => a + b, 0)

function table(header: string[], rows: string[][], align?: string[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => align?.[i] ?? '---:').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

export function scenarioSection(w: Workload, k: Knobs, nodes: readonly NodeSpec[], models: readonly ModelSpec[], requests: number, gossipMs: number): string {
  const modelRows = models.map((m) => [
    `\`${profileId(m)}\``,
    String(m.sizeMb / 1024),
    String(m.slots),
    String(m.maxInstances),
    m.split ? 'layer' : '—',
    s(coldStartMs(m)),
    ...nodes.map((n) => (n.cookbook.includes(m.name) ? tokensPerSecond(n, m).toFixed(0) : '—')),
  ])
  return [
    `Seed **${w.seed}**: ${requests} requests over ${w.durationMs / 60_000} simulated minutes (virtual clock; no wall time).`,
    '',
    '**Cluster** (memory per node as herd sees it; 4 GB of RAM held by the OS on each):',
    '',
    ...nodes.map((n) => `- ${describeNode(n)}`),
    '',
    '**Models** (size = VRAM on a GPU node, RAM on the CPU node; tokens/s = per slot on each node, — = not in its cookbook):',
    '',
    table(['profile', 'GB', 'slots', 'max inst.', 'split', 'cold start s', ...nodes.map((n) => `tok/s ${n.name}`)], modelRows, [
      '---',
      ...models.map(() => '---:'),
    ]),
    '',
    `**Load**: Poisson ${w.baseRate} req/s, model by Zipf(s=${w.zipfS}) in the order above; plus bursts every ~${w.burstGapMs / 1000} s (exponential gaps) ` +
      `of one Zipf-drawn model at +${w.burstRate} req/s for ${w.burstMs / 1000} s. Tokens per request: exponential, mean ${w.meanTokens}, clamped to 16–2048. ` +
      `Each request arrives at a uniformly random node.`,
    '',
    `**Per node, as the daemon does**: FIFO per model capped at ${k.queueCap} waiting (max_queue_size), ${k.maxWaitInQueueMs / 1000} s max wait in queue, ` +
      `idle stop after ${k.idleTimeoutMs / 1000} s, admission through the real \`planFit\` (fits now / evict idle LRU-first / wait for busy up to the queue wait / no_capacity). ` +
      `Gossip heartbeat ${gossipMs / 1000} s.`,
  ].join('\n')
}

export function resultTable(rows: readonly RunResult[], nodes: readonly NodeSpec[]): string {
  return table(
    [
      'policy',
      'completed',
      'failed',
      'no_capacity',
      'queue_full',
      'queue_timeout',
      'no_route',
      'p50 s',
      'p99 s',
      'evictions',
      'cold starts',
      'idle stops',
      'spawns refused (never fits / timed out)',
      ...nodes.map((n) => `served ${n.name}`),
    ],
    rows.map((r) => [
      r.policy,
      String(r.completed),
      String(failed(r)),
      String(r.failed.no_capacity),
      String(r.failed.queue_full),
      String(r.failed.queue_timeout),
      String(r.failed.no_route),
      s(r.p50),
      s(r.p99),
      String(r.evictions),
      String(r.coldStarts),
      String(r.idleStops),
      `${r.spawnsNeverFit} / ${r.spawnsTimedOut}`,
      ...nodes.map((n) => String(r.servedBy[n.name] ?? 0)),
    ]),
    ['---'],
  )
}

export interface TargetCheck {
  md: string
  met: boolean
}

/** ≥ 2× fewer evictions than round-robin, and a lower p99. */
export function targets(herd: readonly RunResult[], rr: RunResult): TargetCheck {
  let met = true
  const rows: string[][] = []
  for (const h of herd) {
    const evict = h.evictions * 2 <= rr.evictions
    const p99 = h.p99 < rr.p99
    met &&= evict && p99
    const ratio = h.evictions === 0 ? '∞' : (rr.evictions / h.evictions).toFixed(1)
    rows.push([h.policy, 'evictions ≥ 2× fewer than round-robin', `${h.evictions} vs ${rr.evictions} (${ratio}× fewer)`, evict ? '**met**' : '**missed**'])
    rows.push([h.policy, 'p99 lower than round-robin', `${s(h.p99)} s vs ${s(rr.p99)} s`, p99 ? '**met**' : '**missed**'])
  }
  return { md: table(['policy', 'target', 'value', ''], rows, ['---', '---', '---', '---']), met }
}

/** Experiments against today's herd on the same requests: absolute numbers and the change. */
export function experimentTable(base: RunResult, rows: readonly { result: RunResult; change: string }[]): string {
  const d = (a: number, b: number, f: (x: number) => string): string => `${f(a)} (${a - b >= 0 ? '+' : ''}${f(a - b)})`
  return table(
    ['variant', 'src/ change it stands for', 'completed', 'failed', 'p50 s', 'p99 s', 'evictions', 'cold starts'],
    rows.map(({ result: r, change }) => [
      r.policy,
      change,
      d(r.completed, base.completed, String),
      d(failed(r), failed(base), String),
      d(r.p50, base.p50, s),
      d(r.p99, base.p99, s),
      d(r.evictions, base.evictions, String),
      d(r.coldStarts, base.coldStarts, String),
    ]),
    ['---', '---'],
  )
}

/** Means over several seeds, and how many seeds met both targets against round-robin. */
export function sweepTable(seeds: readonly number[], byPolicy: ReadonlyMap<string, RunResult[]>, rr: readonly RunResult[]): string {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
  return table(
    ['policy', 'seeds', 'mean completed', 'mean failed', 'mean p50 s', 'mean p99 s', 'p99 per seed s', 'mean evictions', 'seeds meeting both targets'],
    [...byPolicy].map(([name, runs]) => [
      name,
      seeds.join(','),
      mean(runs.map((r) => r.completed)).toFixed(0),
      mean(runs.map(failed)).toFixed(0),
      s(mean(runs.map((r) => r.p50))),
      s(mean(runs.map((r) => r.p99))),
      runs.map((r) => s(r.p99)).join(' / '),
      mean(runs.map((r) => r.evictions)).toFixed(1),
      name === 'round-robin' ? '—' : `${runs.filter((r, i) => rr[i] && targets([r], rr[i] as RunResult).met).length} / ${runs.length}`,
    ]),
    ['---', '---'],
  )
}
