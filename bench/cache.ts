/**
 * npm run bench:cache — what the response cache costs and saves, in one process:
 *
 * 1. Latency through the app (real buildApp, loopback HTTP, one request at a time) over a
 *    fake router that answers at once: no cache, a miss (looked up, routed, recorded), an
 *    exact hit (replayed, not routed), for a JSON answer and a 32-event SSE stream; then the
 *    semantic path with a fake embedder: a miss (embedded, scanned, routed, recorded) and a
 *    semantic hit, with the index full of other prompts of the same context.
 * 2. The semantic hit rate by threshold on a reworded-questions workload (bench/lib/cache-semantic.ts).
 * 3. The scan's cost by index size and embedding width.
 * 4. With `--real`: off, miss and hit on a real herd and llama-server with the tiny model,
 *    and what embedding a prompt costs there (bench/lib/cache-real.ts).
 *
 *   npm run bench:cache -- [--requests 2000] [--warmup 200] [--embed-ms 0] [--real] [--out FILE]
 *
 * `--embed-ms` makes the fake embedder wait that long, to stand for a real embedding round trip.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ResponseCache } from '../src/cache/index.ts'
import { fakeAnswer, measure, startBenchApp, type Latency } from './lib/cache-app.ts'
import { benchReal, type RealResult } from './lib/cache-real.ts'
import { bagOfWords, chatBody, hitRate, letters, scanCost, VARIANTS, type HitRate } from './lib/cache-semantic.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    'embed-ms': { type: 'string', default: '0' },
    real: { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results', 'cache.md') },
  },
})
const requests = Number(opt.requests)
const warmup = Number(opt.warmup)
const embedMs = Number(opt['embed-ms'])
const EVENTS = 32
const EVENT_BYTES = 100

interface Row {
  answer: string
  path: string
  lat: Latency
  routed: number
}
const rows: Row[] = []
const log = (s: string): void => void process.stderr.write(`bench:cache: ${s}\n`)

const body = (stream: boolean, content: string): string => JSON.stringify({ ...chatBody(content), stream })

for (const stream of [false, true]) {
  const answer = stream ? `SSE, ${EVENTS} events × ${EVENT_BYTES} B` : 'JSON, 3 KB'
  for (const path of ['no cache', 'miss', 'hit'] as const) {
    const cache = path === 'no cache' ? undefined : new ResponseCache()
    const app = await startBenchApp(fakeAnswer(stream, EVENTS, EVENT_BYTES), cache)
    try {
      // A miss asks something new every time; a hit asks the same thing (stored by the warm-up).
      const lat = await measure(app.url, (i) => body(stream, path === 'hit' ? 'same question' : `question ${i}`), requests, warmup)
      rows.push({ answer, path, lat, routed: app.routed() })
      log(`${answer}, ${path}: p50 ${lat.p50.toFixed(3)} ms`)
    } finally {
      await app.close()
    }
  }
}

const calls = { n: 0 }
const semantic = new ResponseCache({ embed: bagOfWords(calls, embedMs) }, { semantic: { embeddingModel: 'embed', threshold: 0.9, maxEntries: 1000 } })
const semApp = await startBenchApp(fakeAnswer(false, EVENTS, EVENT_BYTES), semantic)
try {
  // Misses: every prompt about something else (two words of its own: similarity 1/3 to the others); they fill the index.
  const miss = await measure(semApp.url, (i) => body(false, `topic ${letters(i)} ${letters(i + 7919)}`), requests, warmup)
  rows.push({ answer: 'JSON, semantic cache', path: 'miss (embed + scan + route)', lat: miss, routed: semApp.routed() })
  const routedBefore = semApp.routed()
  await measure(semApp.url, () => body(false, 'What is the population of France?'), 1, 0)
  const reworded = VARIANTS[0]?.('population', 'France') ?? ''
  const hit = await measure(semApp.url, () => body(false, reworded), requests, warmup)
  rows.push({ answer: 'JSON, semantic cache', path: 'semantic hit (embed + scan)', lat: hit, routed: semApp.routed() - routedBefore })
  log(`semantic: miss p50 ${miss.p50.toFixed(3)} ms, hit p50 ${hit.p50.toFixed(3)} ms, ${semantic.stats().semanticEntries} rows`)
} finally {
  await semApp.close()
}
const semStats = semantic.stats()

const rates: HitRate[] = []
for (const threshold of [0.5, 0.7, 0.9, 0.95]) rates.push(await hitRate(threshold))
const scans: { rows: number; dims: number; us: number }[] = []
for (const dims of [384, 1024]) for (const n of [100, 1000, 10_000]) scans.push({ rows: n, dims, us: scanCost(n, dims) })

let real: RealResult | undefined
if (opt.real) {
  real = await benchReal(100)
  log(
    `real: off ${real.p50.off.toFixed(2)} ms, miss ${real.p50.miss.toFixed(2)} ms, hit ${real.p50.hit.toFixed(2)} ms, embedding ${real.embedMsMean.toFixed(2)} ms`,
  )
}

const f = (v: number): string => v.toFixed(3)
const pct = (a: number, b: number): string => `${((a / b) * 100).toFixed(0)} %`
const report = [
  '# Response cache: hit vs miss, and the semantic path',
  '',
  `${new Date().toISOString()}, Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, load average ${loadavg()[0]?.toFixed(1)} at the end. ` +
    `Through the real app on loopback HTTP, one request at a time (${requests} measured after ${warmup} warm-up), against a fake router that answers at once: ` +
    'a real miss adds the whole generation on top, which is what a hit saves. Latency is send to last body byte.',
  '',
  '| answer | path | p50 ms | p99 ms | mean ms | routed | x-herd-cache |',
  '| --- | --- | ---: | ---: | ---: | ---: | --- |',
  ...rows.map(
    (r) =>
      `| ${r.answer} | ${r.path} | ${f(r.lat.p50)} | ${f(r.lat.p99)} | ${f(r.lat.mean)} | ${r.routed} | ${Object.entries(r.lat.states)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} |`,
  ),
  '',
  `Semantic rows: fake embedder (bag of content words, 1,024 dimensions${embedMs > 0 ? `, ${embedMs} ms wait per call` : ', no wait'}), threshold 0.9; ` +
    `the index held ${semStats.semanticEntries} rows of the same context during the hit run (the scan's worst case); the few hits among the misses are the fake embedder's hash collisions. ` +
    'A real embedding model adds its round trip to every eligible request that misses the exact cache (`--real` below measures it for the tiny model).',
  '',
  '## Semantic hit rate by threshold',
  '',
  `The 100 originals asked first (each stored unless it already hit another), then ${rates[0]?.asked ?? 0} rewordings (5 per question, the fifth in other words). ` +
    "A wrong hit replays another question's answer; a wrong original is an original answered from another (so never stored, and its rewordings inherit the wrong answer).",
  '',
  '| threshold | reworded hits | hit rate | wrong hits | wrong originals | embeddings | embed ms per lookup |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rates.map((r) => `| ${r.threshold} | ${r.hits} | ${pct(r.hits, r.asked)} | ${r.wrong} | ${r.wrongOriginals} | ${r.embeddings} | ${f(r.embedMsMean)} |`),
  '',
  '## Scan cost',
  '',
  "One lookup over a full index, every row in the request's context (worst case), µs:",
  '',
  '| rows | 384 dims | 1024 dims |',
  '| ---: | ---: | ---: |',
  ...[100, 1000, 10_000].map(
    (n) =>
      `| ${n} | ${scans.find((s) => s.rows === n && s.dims === 384)?.us.toFixed(0)} | ${scans.find((s) => s.rows === n && s.dims === 1024)?.us.toFixed(0)} |`,
  ),
  '',
  ...(real === undefined
    ? []
    : [
        '## On a real llama-server (`--real`)',
        '',
        `A herd process, the tiny test model (greedy, 8 tokens) and a semantic cache on its embedding profile; ${real.requests} new prompts, each asked with the cache off, then twice (a miss, then a hit); fetch from this process, send to last byte.`,
        '',
        '| path | p50 ms |',
        '| --- | ---: |',
        `| cache off (generation only) | ${real.p50.off.toFixed(2)} |`,
        `| miss (lookup, embedding, scan, generation, recording) | ${real.p50.miss.toFixed(2)} |`,
        `| exact hit | ${real.p50.hit.toFixed(2)} |`,
        '',
        `Embedding one prompt through the mesh (herd_cache_embedding_seconds): ${real.embedMsMean.toFixed(2)} ms mean over ${real.embeddings}.`,
        '',
      ]),
]
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, report.join('\n'))
process.stdout.write(report.join('\n'))
