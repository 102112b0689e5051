/**
 * npm run bench:mesh:compare — one mesh hop, this tree against another checkout of herd,
 * interleaved in one run: a before/after that the load of a shared box cannot tilt.
 *
 * Both trees start the pair of bench:mesh (A forwards to B, B serves from the fake
 * llama-server; each tree's own daemons, from its own bench/lib). Then, round after round,
 * every scenario runs four short closed-loop segments in rotating order: base direct, base
 * via A, this direct, this via A. A segment measures the CPU of the daemons it loads
 * (utime + stime, less their idle rate measured after the warm-up). The hop's CPU ratio
 * ((A + B via) / B direct) is taken per round from adjacent segments, and reported as the
 * median of the rounds with their range; throughput and latency are over all rounds.
 *
 *   npm run bench:mesh:compare -- --base DIR [--rounds 6] [--duration-ms 1000]
 *     [--kinds json,burst,paced] [--concurrency 16] [--out FILE]
 *
 * DIR: a checkout of the tree to compare with, able to run (e.g. `git worktree add`, or
 * `git archive REV | tar -x -C DIR` with node_modules linked in); its bench/lib/mesh-cluster.ts
 * starts its pair.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { runLoad, type LoadResult } from './lib/load.ts'
import { MESH_BENCH_MODEL, MESH_BENCH_PACED_MODEL, startMeshPair, type MeshPair, type MeshPairInit } from './lib/mesh-cluster.ts'
import { percentile, sorted } from './lib/stats.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    'duration-ms': { type: 'string', default: '1000' },
    kinds: { type: 'string', default: 'json,burst,paced' },
    concurrency: { type: 'string', default: '16' },
    out: { type: 'string', default: join(here, 'results', 'mesh-compare.md') },
  },
})
if (opt.base === undefined) throw new Error('--base DIR (a checkout of the tree to compare with) is required')
const base = resolve(opt.base)
const rounds = Number(opt.rounds)
const durationMs = Number(opt['duration-ms'])
const kinds = opt.kinds.split(',') as Kind[]
const concurrency = Number(opt.concurrency)
const load0 = loadavg()[0] ?? 0
const log = (line: string): void => void process.stderr.write(`bench:mesh:compare: ${line}\n`)

type Kind = 'json' | 'burst' | 'paced'
type Tree = 'base' | 'this'
type Via = 'direct' | 'via'
const TREES: Tree[] = ['base', 'this']
const body = (kind: Kind): string =>
  JSON.stringify({
    model: kind === 'paced' ? MESH_BENCH_PACED_MODEL : MESH_BENCH_MODEL,
    stream: kind !== 'json',
    max_tokens: 32,
    messages: [{ role: 'user', content: 'Say ok.' }],
  })

interface Acc {
  loads: Record<Via, LoadResult[]>
  /** Per round: CPU µs per request of B direct, A via, B via. */
  cpu: { directB: number; viaA: number; viaB: number }[]
}

const baseCluster = (await import(pathToFileURL(join(base, 'bench/lib/mesh-cluster.ts')).href)) as { startMeshPair: (i: MeshPairInit) => Promise<MeshPair> }
const init = { gossipIntervalMs: 1000, slots: Math.max(32, concurrency) }
log(`starting the base tree's pair (${base}) and this tree's`)
const pairs: Record<Tree, MeshPair> = { base: await baseCluster.startMeshPair(init), this: await startMeshPair(init) }
const agents = new Map<string, Agent>()
const agent = (tree: Tree, via: Via): Agent => {
  const key = `${tree}:${via}`
  let a = agents.get(key)
  if (a === undefined) agents.set(key, (a = new Agent({ connections: concurrency, keepAliveTimeout: 60_000 })))
  return a
}
const acc = new Map<string, Acc>()
const accOf = (tree: Tree, kind: Kind): Acc => {
  const key = `${tree}:${kind}`
  let a = acc.get(key)
  if (a === undefined) acc.set(key, (a = { loads: { direct: [], via: [] }, cpu: [] }))
  return a
}
try {
  const idle = new Map<Tree, { a: number; b: number }>(TREES.map((t) => [t, { a: 0, b: 0 }]))
  const segment = async (tree: Tree, via: Via, kind: Kind, ms: number): Promise<{ load: LoadResult; a: number; b: number }> => {
    const pair = pairs[tree]
    const c0 = { a: await pair.a.cpuUs(), b: await pair.b.cpuUs() }
    const t0 = performance.now()
    const load = await runLoad({
      dispatcher: agent(tree, via),
      origin: via === 'via' ? pair.a.url : pair.b.url,
      path: '/v1/chat/completions',
      body: body(kind),
      stream: kind !== 'json',
      concurrency,
      durationMs: ms,
      expectEvents: kind === 'json' ? 0 : 34,
    })
    const elapsed = performance.now() - t0
    const rate = idle.get(tree)!
    const a = Math.max(0, (await pair.a.cpuUs()) - c0.a - rate.a * elapsed)
    const b = Math.max(0, (await pair.b.cpuUs()) - c0.b - rate.b * elapsed)
    return { load, a: a / Math.max(1, load.requests), b: b / Math.max(1, load.requests) }
  }
  log('warm-up')
  for (const kind of kinds) for (const tree of TREES) for (const via of ['direct', 'via'] as const) await segment(tree, via, kind, 400)
  // Idle rates in the steady state, all four daemons at once.
  const i0 = await Promise.all(TREES.map(async (t) => ({ a: await pairs[t].a.cpuUs(), b: await pairs[t].b.cpuUs() })))
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, 1000))
  const i1 = await Promise.all(TREES.map(async (t) => ({ a: await pairs[t].a.cpuUs(), b: await pairs[t].b.cpuUs() })))
  const idleMs = performance.now() - t0
  TREES.forEach((t, i) => idle.set(t, { a: (i1[i]!.a - i0[i]!.a) / idleMs, b: (i1[i]!.b - i0[i]!.b) / idleMs }))
  log(`${rounds} rounds x ${kinds.length} scenarios x 4 segments x ${durationMs} ms`)
  const order: [Tree, Via][] = [
    ['base', 'direct'],
    ['base', 'via'],
    ['this', 'direct'],
    ['this', 'via'],
  ]
  for (let r = 0; r < rounds; r++) {
    for (const [k, kind] of kinds.entries()) {
      const per = new Map<Tree, { directB: number; viaA: number; viaB: number }>(TREES.map((t) => [t, { directB: 0, viaA: 0, viaB: 0 }]))
      // Rotate the start so no segment always follows the same one.
      for (let i = 0; i < order.length; i++) {
        const [tree, via] = order[(i + r + k) % order.length]!
        const s = await segment(tree, via, kind, durationMs)
        accOf(tree, kind).loads[via].push(s.load)
        const p = per.get(tree)!
        if (via === 'direct') p.directB = s.b
        else Object.assign(p, { viaA: s.a, viaB: s.b })
      }
      for (const t of TREES) accOf(t, kind).cpu.push(per.get(t)!)
    }
    log(`  round ${r + 1}/${rounds} done`)
  }
} finally {
  for (const a of agents.values()) await a.close()
  await pairs.base.close()
  await pairs.this.close()
}

const median = (xs: number[]): number => percentile(sorted([xs]), 50)
const f0 = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : 'n/a')
const rows: string[] = []
for (const kind of kinds) {
  for (const tree of TREES) {
    const a = accOf(tree, kind)
    const ratios = a.cpu.map((c) => (c.viaA + c.viaB) / c.directB).filter(Number.isFinite)
    const sum = (ls: LoadResult[], f: (l: LoadResult) => number): number => ls.reduce((s, l) => s + f(l), 0)
    const secs = (ls: LoadResult[]): number => sum(ls, (l) => l.elapsedMs) / 1000
    const rate = (ls: LoadResult[]): number => (kind === 'json' ? sum(ls, (l) => l.requests) : sum(ls, (l) => l.events)) / secs(ls)
    const p50 = (ls: LoadResult[]): number => percentile(sorted(ls.map((l) => (kind === 'json' ? l.latencies : l.ttfbs))), 50)
    const m = (f: (c: Acc['cpu'][number]) => number): number => median(a.cpu.map(f))
    rows.push(
      `| ${kind} | ${tree === 'base' ? 'base' : '**this**'} | ${f0(m((c) => c.directB))} | ${f0(m((c) => c.viaA))} | ${f0(m((c) => c.viaB))} | ` +
        `**${f2(median(ratios))}×** (${f2(Math.min(...ratios))}–${f2(Math.max(...ratios))}) | ${f0(rate(a.loads.direct))} | ${f0(rate(a.loads.via))} | ` +
        `${((rate(a.loads.via) / rate(a.loads.direct)) * 100).toFixed(0)} % | ${f2(p50(a.loads.direct))} | ${f2(p50(a.loads.via))} | ${f2(p50(a.loads.via) - p50(a.loads.direct))} | ` +
        `${sum([...a.loads.direct, ...a.loads.via], (l) => l.errors)} |`,
    )
  }
}
const cpu = cpus()
const text = [
  '# herd mesh, one hop: this tree against a base tree, interleaved (`npm run bench:mesh:compare`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, load average at start ${load0.toFixed(2)}, at end ${(loadavg()[0] ?? 0).toFixed(2)} (other work shares these cores)`,
  `- base: ${base}; this: ${resolve(here, '..')}`,
  `- both trees' pairs of bench:mesh daemons running side by side; ${rounds} rounds, each scenario as four ${durationMs} ms closed-loop segments at ${concurrency} in flight in rotating order (base direct, base via A, this direct, this via A). ` +
    'json: non-streaming; burst: 34 SSE events at once; paced: 34 events at 1000 tokens/s. CPU: µs per answered request (utime + stime, less the idle rate after the warm-up), median of the rounds; ' +
    'ratio: (A + B via) / B direct per round, median (min–max). Rate: requests/s (json) or events/s (streams) over all rounds. p50: latency (json) or time to first byte (streams), ms.',
  '',
  '| scenario | tree | CPU B direct | CPU A via | CPU B via | **hop / local relay** | rate direct | rate via | via / direct | p50 direct | p50 via | added p50 | errors |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
].join('\n')
process.stdout.write(text)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, text)
log(`wrote ${opt.out}`)
