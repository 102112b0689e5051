/**
 * npm run bench:mesh:profile — where one mesh hop's CPU goes, by layer of the stack.
 *
 * The two daemons of bench:mesh (A forwards to B, B serves from the fake llama-server), a
 * closed loop of 16 in flight per scenario: first unprofiled, for each daemon's CPU per
 * request (utime + stime, less its idle rate), then under a V8 CPU profile of both, whose
 * self time by layer (bench/lib/cpu-layers.ts, the profiler's own share left out) splits
 * that CPU. "direct" is the same load sent to B itself: a local relay.
 *
 *   npm run bench:mesh:profile -- [--duration-ms 3000] [--kinds json,paced] [--out FILE] [--keep DIR]
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { LAYERS, layerTimes, type Layer } from './lib/cpu-layers.ts'
import { profileMarkdown, summarizeProfile } from './lib/cpuprofile.ts'
import { runLoad } from './lib/load.ts'
import { MESH_BENCH_MODEL, MESH_BENCH_PACED_MODEL, PACED_TOKEN_RATE, startMeshPair } from './lib/mesh-cluster.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    'duration-ms': { type: 'string', default: '3000' },
    kinds: { type: 'string', default: 'json,paced' },
    out: { type: 'string', default: join(here, 'results', 'mesh-profile.md') },
    keep: { type: 'string' },
  },
})
const durationMs = Number(opt['duration-ms'])
const kinds = opt.kinds.split(',') as ('json' | 'paced')[]
const CONCURRENCY = 16
const load0 = loadavg()[0] ?? 0
const log = (line: string): void => void process.stderr.write(`bench:mesh:profile: ${line}\n`)
const body = (kind: 'json' | 'paced'): string =>
  JSON.stringify({
    model: kind === 'paced' ? MESH_BENCH_PACED_MODEL : MESH_BENCH_MODEL,
    stream: kind === 'paced',
    max_tokens: 32,
    messages: [{ role: 'user', content: 'Say ok.' }],
  })

interface Side {
  /** CPU µs per request, unprofiled, idle taken off. */
  cpuUs: number
  layers: Map<Layer, number>
  profile: string
}

const profileDir = opt.keep ?? (await mkdtemp(join(tmpdir(), 'herd-bench-mesh-profile-')))
await mkdir(profileDir, { recursive: true })
// The layers are told apart by each function's file (src/mesh, node_modules/@libp2p/…): in
// the bundle (dist/) every function sits in a chunk, so the daemons run from src/ here. Run
// time is the same code either way; only loading differs.
process.env['HERD_BENCH_DAEMON'] ??= 'src'
const pair = await startMeshPair({ gossipIntervalMs: 1000, slots: 32 })
const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 })
const sections: string[] = []
const summaries: string[] = []
try {
  const run = (origin: string, kind: 'json' | 'paced', ms: number) =>
    runLoad({
      dispatcher: agent,
      origin,
      path: '/v1/chat/completions',
      body: body(kind),
      stream: kind === 'paced',
      concurrency: CONCURRENCY,
      durationMs: ms,
      expectEvents: kind === 'paced' ? 34 : 0,
    })
  // Warm-up: JIT, both llama-servers, pooled streams; then the idle rate, in the steady state.
  for (const kind of kinds) for (const url of [pair.b.url, pair.a.url]) await run(url, kind, 500)
  const cpu = async (): Promise<{ a: number; b: number }> => ({ a: await pair.a.cpuUs(), b: await pair.b.cpuUs() })
  const i0 = await cpu()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, 1000))
  const i1 = await cpu()
  const idleMs = performance.now() - t0
  const idle = { a: (i1.a - i0.a) / idleMs, b: (i1.b - i0.b) / idleMs }

  for (const kind of kinds) {
    const sides: Record<'viaA' | 'viaB' | 'directB', Side> = {} as never
    for (const target of ['via', 'direct'] as const) {
      const url = target === 'via' ? pair.a.url : pair.b.url
      log(`${kind}, ${target}: unprofiled, then profiled (${durationMs} ms each)`)
      const c0 = await cpu()
      const s0 = performance.now()
      const plain = await run(url, kind, durationMs)
      const c1 = await cpu()
      const elapsed = performance.now() - s0
      const perReq = (d: number, idleRate: number): number => Math.max(0, d - idleRate * elapsed) / plain.requests
      await Promise.all([pair.a.profileStart(), pair.b.profileStart()])
      await run(url, kind, durationMs)
      const files = { a: join(profileDir, `${kind}-${target}-a.cpuprofile`), b: join(profileDir, `${kind}-${target}-b.cpuprofile`) }
      await pair.a.profileStop(files.a)
      await pair.b.profileStop(files.b)
      if (target === 'via') {
        sides.viaA = { cpuUs: perReq(c1.a - c0.a, idle.a), layers: await layerTimes(files.a), profile: files.a }
        sides.viaB = { cpuUs: perReq(c1.b - c0.b, idle.b), layers: await layerTimes(files.b), profile: files.b }
      } else {
        sides.directB = { cpuUs: perReq(c1.b - c0.b, idle.b), layers: await layerTimes(files.b), profile: files.b }
      }
    }
    // A layer's µs per request: its share of the profiled busy time (the profiler's own left out) times the unprofiled CPU.
    const split = (s: Side): Map<Layer, number> => {
      const profiler = s.layers.get('profiler itself (node:inspector)') ?? 0
      const busy = [...s.layers.values()].reduce((a, b) => a + b, 0) - profiler
      return new Map(LAYERS.filter((l) => l !== 'profiler itself (node:inspector)').map((l) => [l, ((s.layers.get(l) ?? 0) / busy) * s.cpuUs]))
    }
    const a = split(sides.viaA)
    const b = split(sides.viaB)
    const d = split(sides.directB)
    const f = (v: number): string => v.toFixed(0)
    const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(0)}`
    const rows = [...a.keys()].map((l) => {
      const hop = (a.get(l) ?? 0) + (b.get(l) ?? 0)
      return `| ${l} | ${f(a.get(l) ?? 0)} | ${f(b.get(l) ?? 0)} | ${f(hop)} | ${f(d.get(l) ?? 0)} | ${signed(hop - 2 * (d.get(l) ?? 0))} |`
    })
    const hopTotal = sides.viaA.cpuUs + sides.viaB.cpuUs
    const what = kind === 'json' ? 'non-streaming' : `streaming 34 events at ${PACED_TOKEN_RATE} tokens/s`
    sections.push(
      `## ${what}, ${CONCURRENCY} in flight`,
      '',
      `CPU µs per request: A (via) ${f(sides.viaA.cpuUs)}, B (via) ${f(sides.viaB.cpuUs)}, hop A + B ${f(hopTotal)}; B direct (a local relay) ${f(sides.directB.cpuUs)}: **${(hopTotal / sides.directB.cpuUs).toFixed(2)}×** (target ≤ 2×: ${hopTotal <= 2 * sides.directB.cpuUs ? 'met' : 'missed'}).`,
      '',
      '| layer (self time) | A via µs/req | B via µs/req | hop A + B | B direct | hop − 2 × direct |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
      `| **total** | **${f(sides.viaA.cpuUs)}** | **${f(sides.viaB.cpuUs)}** | **${f(hopTotal)}** | **${f(sides.directB.cpuUs)}** | **${signed(hopTotal - 2 * sides.directB.cpuUs)}** |`,
      '',
    )
    for (const [name, side] of [
      [`${kind}: A, forwarding`, sides.viaA],
      [`${kind}: B, serving forwarded requests`, sides.viaB],
      [`${kind}: B, serving direct requests`, sides.directB],
    ] as const) {
      summaries.push(`### ${name}`, '', profileMarkdown(await summarizeProfile(side.profile, 15)), '')
    }
  }
} finally {
  await agent.close()
  await pair.close()
}

const cpu = cpus()
const text = [
  '# herd mesh: where one hop’s CPU goes (`npm run bench:mesh:profile`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, load average at start ${load0.toFixed(2)} (other work shares these cores)`,
  `- the pair of bench:mesh (A forwards, B serves from the fake llama-server), closed loop, ${CONCURRENCY} in flight, ${durationMs} ms unprofiled then ${durationMs} ms profiled per scenario and target. ` +
    'CPU per request: the daemon’s utime + stime per answered request, less its idle rate (measured after the warm-up). ' +
    'Layers: self time in the profile (cpu-layers.ts), the profiler’s own share left out, scaled to the unprofiled CPU. ' +
    '"hop − 2 × direct" is what a layer costs the hop beyond the ≤ 2× target: the sum of the column is the target’s margin (negative: met). ' +
    'The V8 profiler samples wall time on a shared box: shares are approximate, the totals are not.',
  '',
  ...sections,
  '## Top functions',
  '',
  ...summaries,
].join('\n')
process.stdout.write(text)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, text)
log(`wrote ${opt.out}${opt.keep === undefined ? '' : `; profiles in ${profileDir}`}`)
