/**
 * npm run bench:mesh:open — one mesh hop below saturation: the latency a hop adds when the
 * box has CPU to spare. bench:mesh's closed loop at concurrency 16 keeps 16 requests in
 * flight on 2 cores that load generator, fake upstream, A and B share, so both targets run
 * CPU-bound and p50 is ≈ 16 / throughput (Little's law): it measures the hop's CPU, not its
 * delay. Here requests start on a fixed schedule (an open loop) at each rate, with at most
 * 16 in flight, straight to B and via A alternating round after round; latency counts from
 * the scheduled start, so a request that had to wait for a free worker is charged for it.
 *
 *   npm run bench:mesh:open -- [--rates 100,200,400] [--rounds 3] [--duration-ms 2000] [--max-in-flight 16] [--out FILE]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { MESH_BENCH_MODEL, startMeshPair } from './lib/mesh-cluster.ts'
import { runLoad, type LoadResult } from './lib/load.ts'
import { summarize } from './lib/stats.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    rates: { type: 'string', default: '100,200,400' },
    rounds: { type: 'string', default: '3' },
    'duration-ms': { type: 'string', default: '2000' },
    'max-in-flight': { type: 'string', default: '16' },
    out: { type: 'string', default: join(here, 'results', 'mesh-open.md') },
  },
})
const rates = opt.rates.split(',').map(Number)
const rounds = Number(opt.rounds)
const durationMs = Number(opt['duration-ms'])
const inFlight = Number(opt['max-in-flight'])
const body = JSON.stringify({ model: MESH_BENCH_MODEL, stream: false, max_tokens: 32, messages: [{ role: 'user', content: 'Say ok.' }] })
const load0 = loadavg()[0] ?? 0
const log = (line: string): void => void process.stderr.write(`bench:mesh:open: ${line}\n`)

type Via = 'direct' | 'via'
const pair = await startMeshPair({ gossipIntervalMs: 1000, slots: Math.max(32, inFlight) })
const agents = { direct: new Agent({ connections: inFlight, keepAliveTimeout: 60_000 }), via: new Agent({ connections: inFlight, keepAliveTimeout: 60_000 }) }
const urls = { direct: pair.b.url, via: pair.a.url }
const run = (t: Via, ratePerSec: number, ms: number): Promise<LoadResult> =>
  runLoad({ dispatcher: agents[t], origin: urls[t], path: '/v1/chat/completions', body, stream: false, concurrency: inFlight, durationMs: ms, ratePerSec })
const rows: string[] = []
try {
  // Warm-up (JIT, connections, the instance, pooled forward streams), discarded.
  for (const t of ['direct', 'via'] as const) await run(t, Math.max(...rates), 500)
  for (const rate of rates) {
    const got: Record<Via, LoadResult[]> = { direct: [], via: [] }
    for (let r = 0; r < rounds; r++) {
      const order: Via[] = r % 2 === 0 ? ['direct', 'via'] : ['via', 'direct']
      for (const t of order) got[t].push(await run(t, rate, durationMs))
      log(`${rate} req/s: round ${r + 1}/${rounds} done`)
    }
    const d = summarize(got.direct)
    const v = summarize(got.via)
    const errors = [...got.direct, ...got.via].reduce((n, x) => n + x.errors, 0)
    const f = (x: number): string => x.toFixed(2)
    const signed = (x: number): string => `${x >= 0 ? '+' : ''}${f(x)}`
    rows.push(
      `| ${rate} | ${Math.round(d.rps)} / ${Math.round(v.rps)} | ${f(d.p50)} | ${f(v.p50)} | **${signed(v.p50 - d.p50)}** | ${f(d.p99)} | ${f(v.p99)} | ${signed(v.p99 - d.p99)} | ${errors} |`,
    )
  }
} finally {
  for (const a of Object.values(agents)) await a.close()
  await pair.close()
}
const cpu = cpus()
const md = [
  '# One mesh hop below saturation (`npm run bench:mesh:open`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, load average at start ${load0.toFixed(2)}, at end ${(loadavg()[0] ?? 0).toFixed(2)}`,
  `- method: two daemons as in bench:mesh (A forwards to B over \`/herd/forward/1.0.0\`, B serves a fake llama-server), non-streaming; requests start on a fixed schedule at each rate with at most ${inFlight} in flight; ${rounds} rounds × ${durationMs} ms per rate and target, alternating. Latency: scheduled start to last byte, ms.`,
  '',
  '| rate (req/s) | achieved direct / via | p50 direct B | p50 via A | **added p50** | p99 direct B | p99 via A | added p99 | errors |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
].join('\n')
process.stdout.write(md)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, md)
process.exit(0)
