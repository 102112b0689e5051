/**
 * npm run bench:backends — what herd adds in front of an external OpenAI-compatible
 * backend, and what converting a streamed answer between OpenAI and Anthropic costs.
 *
 * 1. The fake upstream (bench/lib/fake-upstream.ts) and herd with it configured as an
 *    `openai` backend (bench/lib/herd-backend-server.ts: real buildApp, Router, Backends)
 *    each run in a child process; this process generates load. Each scenario (non-streaming
 *    and streaming, at each concurrency) runs both targets in rotating order, round after
 *    round, so drift on a busy box hits them alike.
 * 2. The converters in-process (bench/lib/protocols-streams.ts), both directions, after the
 *    children have stopped: µs per upstream event.
 *
 *   npm run bench:backends -- [--duration-ms 1000] [--rounds 5] [--concurrency 1,16]
 *     [--events 32] [--event-bytes 100] [--convert-ms 500] [--profile] [--out FILE]
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { startChild, type BenchChild } from './lib/child.ts'
import { profileMarkdown, summarizeProfile } from './lib/cpuprofile.ts'
import { BACKEND_MODEL } from './lib/herd-backend-server.ts'
import { runInterleaved } from './lib/interleaved.ts'
import { benchConvertStream, type Direction, type StreamBenchResult } from './lib/protocols-streams.ts'
import { latencyTable, throughputTable, type ScenarioResult } from './lib/report.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    'duration-ms': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1,16' },
    events: { type: 'string', default: '32' },
    'event-bytes': { type: 'string', default: '100' },
    'convert-ms': { type: 'string', default: '500' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results', 'backends.md') },
  },
})
const durationMs = Number(opt['duration-ms'])
const rounds = Number(opt.rounds)
const levels = opt.concurrency.split(',').map(Number)
const events = Number(opt.events)
const PATH = '/v1/chat/completions'
type Name = 'direct' | 'herd'
const NAMES: readonly Name[] = ['direct', 'herd']
/** The same request, naming the model as each target knows it. */
const body = (name: Name, stream: boolean): string =>
  JSON.stringify({ model: name === 'herd' ? BACKEND_MODEL : 'bench', stream, max_tokens: 32, messages: [{ role: 'user', content: 'Say ok.' }] })

const profileFile = opt.profile ? join(await mkdtemp(join(tmpdir(), 'herd-bench-')), 'herd.cpuprofile') : undefined
const load0 = loadavg()[0] ?? 0
const started = performance.now()
const children = new Map<Name, { child: BenchChild; agent: Agent }>()
const connections = Math.max(...levels)
let results: ScenarioResult[]
try {
  const upstream = await startChild(join(here, 'lib', 'fake-upstream.ts'), ['--events', opt.events, '--event-bytes', opt['event-bytes']])
  children.set('direct', { child: upstream, agent: new Agent({ connections, keepAliveTimeout: 60_000 }) })
  const herd = await startChild(join(here, 'lib', 'herd-backend-server.ts'), ['--upstream', upstream.url])
  children.set('herd', { child: herd, agent: new Agent({ connections, keepAliveTimeout: 60_000 }) })

  // The profile covers the measured rounds only; idle time is left out when summarized.
  results = await runInterleaved({
    label: 'bench:backends',
    names: NAMES,
    targets: children,
    path: PATH,
    body,
    levels,
    rounds,
    durationMs,
    events,
    ...(profileFile ? { beforeRounds: () => herd.profileStart() } : {}),
  })
  if (profileFile) await herd.profileStop(profileFile)
} finally {
  for (const { child, agent } of [...children.values()].reverse()) {
    await agent.close()
    await child.stop()
  }
}

// The converters, with the HTTP children gone: nothing else competes for the CPU.
const convertMs = Number(opt['convert-ms'])
const conversions: (StreamBenchResult & { chunking: string })[] = []
for (const direction of ['anthropic-to-openai', 'openai-to-anthropic'] as Direction[]) {
  for (const [chunking, chunkBytes] of [
    ['one event per chunk', 0],
    ['cut every 64 bytes', 64],
  ] as const) {
    conversions.push({ ...benchConvertStream(direction, { durationMs: convertMs, chunkBytes }), chunking })
  }
}

const fmt = (v: number, digits = 2): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(digits)}` : 'n/a')
const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : 'n/a')
const summary = [
  '| mode | conc | added p50 | added p99 | added TTFB p50 | throughput herd / direct | herd CPU µs/req |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map((s) => {
    const { direct, herd } = s.runs
    const ratio = s.stream ? herd.eventsPerSec / direct.eventsPerSec : herd.rps / direct.rps
    return `| ${s.stream ? `streaming (${events} events)` : 'non-streaming'} | ${s.concurrency} | ${fmt(herd.p50 - direct.p50)} ms | ${fmt(herd.p99 - direct.p99)} ms | ${s.stream ? `${fmt(herd.ttfbP50 - direct.ttfbP50)} ms` : ''} | ${pct(ratio)} | ${Math.round(s.cpuUsPerReq.herd ?? Number.NaN)} |`
  }),
].join('\n')
const conversionTable = [
  '| direction | upstream chunking | µs per event | events/s |',
  '| --- | --- | ---: | ---: |',
  ...conversions.map((r) => `| ${r.direction} | ${r.chunking} | ${r.usPerEvent.toFixed(2)} | ${Math.round(r.eventsPerSec).toLocaleString('en-US')} |`),
].join('\n')
const cpu = cpus()
const json = results.filter((x) => !x.stream)
const sse = results.filter((x) => x.stream)
const md = [
  '# herd in front of an external backend (`npm run bench:backends`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, ${process.platform}/${process.arch}, load average ${load0.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at the end; ${Math.round((performance.now() - started) / 1000)} s in all`,
  `- method: closed loop per concurrency; ${rounds} rounds x ${durationMs} ms per scenario and target, the two targets alternating which goes first. ` +
    'Load generator, fake upstream and herd each in their own process. ' +
    `Latency: send to last body byte; TTFB: send to first body byte. Streams carry ${events} events of ~${opt['event-bytes']} B, then [DONE]. ` +
    'Percentiles pool all rounds.',
  '- targets: **direct** = straight to the fake OpenAI-compatible upstream; **herd** = herd (buildApp + Router + Backends) with that upstream as an `openai` backend, model `up/bench`. "added" = herd − direct.',
  '- CPU µs/req: CPU time (all threads) of the serving process per request it answered: the fake upstream for direct, herd otherwise.',
  '',
  '## Summary',
  '',
  summary,
  '',
  '## Non-streaming',
  '',
  latencyTable(json, false),
  '',
  throughputTable(json, false),
  '',
  '## Streaming',
  '',
  'Time to first byte (ms):',
  '',
  latencyTable(sse, true),
  '',
  throughputTable(sse, true),
  '',
  '## Protocol conversion, per streamed event',
  '',
  `In-process, the real converters (src/protocols), one stream = ${conversions[0]?.eventsPerStream} upstream events (text deltas and tool-call argument pieces, plus framing), ${convertMs} ms per row after a warm-up.`,
  '',
  conversionTable,
  '',
].join('\n')
process.stdout.write(md)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, md)
process.stderr.write(`wrote ${opt.out}\n`)
if (profileFile) {
  process.stdout.write(`\n## herd CPU profile, measured rounds only (${profileFile})\n\n${profileMarkdown(await summarizeProfile(profileFile))}\n`)
}
