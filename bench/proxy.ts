/**
 * npm run bench:proxy — what herd's HTTP path adds to a request, against a fast fake
 * llama-server. The fake upstream, herd (real buildApp + Router, fake lease), herd with
 * everything on (1,000 tenant keys with limits, usage accounting, metrics; tracing off),
 * a bare fastify+undici proxy and a bare node:http+undici one (the floors for any proxy
 * here), and herd with tracing on (exporting to a local OTLP sink) each run in a child process; this process only generates load. Each scenario runs
 * every target in rotating order, round after round, so drift on a busy box hits them all
 * alike. CPU is each serving process's own utime + stime over the measured segments, per
 * request: a ratio between targets of one run holds on a shared box, wall latency does not.
 *
 *   npm run bench:proxy -- [--duration-ms 1000] [--rounds 5] [--concurrency 16]
 *     [--targets direct,bare-http,bare,herd,herd-all,traced] [--keys 1000] [--events 10]
 *     [--event-bytes 100] [--profile] [--out FILE]
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { startChild, type BenchChild } from './lib/child.ts'
import { perRequestDiffMarkdown, profileMarkdown, summarizeProfile, type ProfileSummary } from './lib/cpuprofile.ts'
import { runInterleaved } from './lib/interleaved.ts'
import { cpuTable, latencyTable, met, perEventTable, targetTable, throughputTable, type ScenarioResult, type Target, type TargetName } from './lib/report.ts'
import type { Summary } from './lib/stats.ts'
import { tracingTable } from './lib/tracing-report.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    'duration-ms': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    targets: { type: 'string', default: 'direct,bare-http,bare,herd,herd-all,traced' },
    keys: { type: 'string', default: '1000' },
    events: { type: 'string', default: '10' },
    'event-bytes': { type: 'string', default: '100' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results', 'proxy.md') },
  },
})
const durationMs = Number(opt['duration-ms'])
const rounds = Number(opt.rounds)
const levels = opt.concurrency.split(',').map(Number)
const events = Number(opt.events)
const names = [...new Set(['direct', 'herd', ...opt.targets.split(',')])] as TargetName[]
const PATH = '/v1/chat/completions'
const body = (stream: boolean): string => JSON.stringify({ model: 'bench', stream, max_tokens: 32, messages: [{ role: 'user', content: 'Say ok.' }] })

interface Endpoint {
  child: BenchChild
  /** One pool per target, big enough for the highest concurrency, kept warm across segments. */
  agent: Agent
  authorization?: () => string
}

const SCRIPTS: Record<Exclude<TargetName, 'direct'>, string> = {
  herd: 'herd-proxy-server.ts',
  'herd-all': 'herd-proxy-server.ts',
  bare: 'bare-proxy.ts',
  'bare-http': 'bare-http-proxy.ts',
  traced: 'herd-proxy-server.ts',
}
const keys = Number(opt.keys)
const work = await mkdtemp(join(tmpdir(), 'herd-bench-'))
/** The targets profiled with --profile: herd, herd with everything on, and the bare proxy to hold them against. */
const profiled = names.filter((n) => opt.profile && (n === 'herd' || n === 'herd-all' || n === 'bare'))
const load0 = loadavg()[0] ?? 0
const endpoints = new Map<TargetName, Endpoint>()
const connections = Math.max(...levels)
let profiles = ''
let sink: BenchChild | undefined
try {
  const upstream = await startChild(join(here, 'lib', 'fake-upstream.ts'), ['--events', opt.events, '--event-bytes', opt['event-bytes']])
  endpoints.set('direct', { child: upstream, agent: new Agent({ connections, keepAliveTimeout: 60_000 }) })
  // traced: the same herd with tracing on, exporting to a local OTLP sink in a process of its own.
  sink = names.includes('traced') ? await startChild(join(here, 'lib', 'otlp-sink.ts'), []) : undefined
  for (const name of names.filter((n) => n !== 'direct')) {
    const script = join(here, 'lib', SCRIPTS[name])
    const agent = new Agent({ connections, keepAliveTimeout: 60_000 })
    if (name !== 'herd-all') {
      const args = ['--upstream', upstream.url, ...(name === 'traced' && sink ? ['--otlp', sink.url] : [])]
      endpoints.set(name, { child: await startChild(script, args), agent })
      continue
    }
    // Requests rotate over all the keys: every one is identified, admitted, counted, metered and written to the usage ledger.
    const home = await mkdtemp(join(work, 'tenants-'))
    const child = await startChild(script, ['--upstream', upstream.url, '--keys', String(keys), '--home', home], { timeoutMs: 120_000 })
    const secrets = JSON.parse(await readFile(join(home, 'secrets.json'), 'utf8')) as string[]
    let next = 0
    endpoints.set(name, { child, agent, authorization: () => `Bearer ${secrets[next++ % secrets.length]}` })
  }

  let cpuAtStart: (number | undefined)[] = []
  // The profile covers the measured rounds only (no start-up, no warm-up); idle time is left out when summarized.
  const results = await runInterleaved({
    label: 'bench:proxy',
    names,
    targets: endpoints,
    path: PATH,
    body: (_name, stream) => body(stream),
    levels,
    rounds,
    durationMs,
    events,
    beforeRounds: async () => {
      cpuAtStart = await Promise.all([
        endpoints.get('herd')!.child.cpuUs(),
        endpoints.get('traced')?.child.cpuUs(),
        sink === undefined ? undefined : sinkSpans(sink.url),
      ])
      for (const n of profiled) await endpoints.get(n)!.child.profileStart()
    },
  })
  const full = new Map<TargetName, { name: string; summary: ProfileSummary; requests: number }>()
  for (const n of profiled) {
    const file = join(work, `${n}.cpuprofile`)
    await endpoints.get(n)!.child.profileStop(file)
    profiles += `\n## ${n} CPU profile, measured rounds only\n\n${profileMarkdown(await summarizeProfile(file))}\n`
    // Every row (not the top few), for the per-request differences below.
    full.set(n, { name: n, summary: await summarizeProfile(file, Infinity), requests: results.reduce((sum, r) => sum + (r.runs[n]?.requests ?? 0), 0) })
  }
  const bare = full.get('bare')
  for (const [a, b] of [
    ['herd', bare],
    ['herd-all', full.get('herd')],
  ] as const) {
    const mine = full.get(a)
    if (mine === undefined || b === undefined) continue
    profiles += `\n## ${a} against ${b.name}, per request\n\n${perRequestDiffMarkdown(mine, b)}\n`
  }

  const tracing = sink === undefined ? undefined : await tracingTotals(results, cpuAtStart, sink.url)
  const targets = [...targetsAt16(results), ...cpuTargetsAt16(results)]
  const cpu = cpus()
  const json = results.filter((x) => !x.stream)
  const sse = results.filter((x) => x.stream)
  const md = [
    '# herd proxy overhead (`npm run bench:proxy`)',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, ${process.platform}/${process.arch}, load average at start ${load0.toFixed(2)}`,
    `- method: closed loop per concurrency; ${rounds} rounds x ${durationMs} ms per scenario and target, targets in rotating order each round. ` +
      'Load generator, fake upstream, herd and the bare proxy each in their own process. ' +
      `Latency: send to last body byte; TTFB: send to first body byte. Streams carry ${events} events of ~${opt['event-bytes']} B, then [DONE]. ` +
      'Percentiles pool all rounds; "per round" is the range of herd/direct over paired rounds.',
    '- targets: **direct** = straight to the fake upstream; **herd** = real buildApp + Router with a fake lease; ' +
      `**herd-all** = the same with everything a production node runs on: ${keys} tenant keys (rpm, tpm, tokens per day) in a real keys.db, ` +
      'requests rotating over all of them (identify, admit, count, meter, settle, usage ledger), metrics; tracing off; ' +
      '**bare** = fastify + undici relaying the body and nothing else (the cost of any proxy hop on this machine); ' +
      '**bare-http** = node:http + undici, no framework at all. ' +
      '"added" = herd − direct; "herd − bare" is what herd\'s own code adds.',
    '- CPU µs/req: CPU time (user + system, all threads; `process.cpuUsage()` in the child) of the serving process over the measured ' +
      'segments, per request it answered: the fake upstream for direct, the proxy otherwise. CPU per SSE event: ' +
      `(streaming CPU/req − non-streaming CPU/req) / ${events} events. The box is shared: CPU-time ratios of one run hold, wall latencies less so.`,
    '',
    '## Non-streaming',
    '',
    'Latency (ms):',
    '',
    latencyTable(json, false),
    '',
    'Throughput and CPU:',
    '',
    throughputTable(json, false),
    '',
    '## Streaming',
    '',
    'Time to first byte (ms):',
    '',
    latencyTable(sse, true),
    '',
    'Throughput (events/s) and CPU:',
    '',
    throughputTable(sse, true),
    '',
    '## CPU per request (µs)',
    '',
    'Non-streaming:',
    '',
    cpuTable(json),
    '',
    `Streaming (${events} events):`,
    '',
    cpuTable(sse),
    '',
    'CPU per SSE event (µs):',
    '',
    perEventTable(results, events),
    '',
    ...(tracing === undefined
      ? []
      : [
          '## Tracing off versus on',
          '',
          '**herd** (tracing off: no `telemetry.otlp_endpoint`) against **traced** (the same, exporting every span by OTLP/HTTP JSON to a sink in another process; batch processor defaults as the daemon runs them).',
          '',
          tracing,
          '',
        ]),
    '## Targets',
    '',
    targetTable(targets),
    '',
    `${targets.filter(met).length}/${targets.length} targets met by herd` +
      (targets.some((t) => t.floor !== undefined)
        ? `; ${targets.filter((t) => t.floor !== undefined && met({ ...t, value: t.floor })).length}/${targets.length} by the bare proxy.`
        : '.'),
    '',
  ].join('\n')
  process.stdout.write(md)
  await mkdir(dirname(opt.out), { recursive: true })
  await writeFile(opt.out, md)
  process.stderr.write(`wrote ${opt.out}\n`)
} finally {
  for (const { child, agent } of [...endpoints.values()].reverse()) {
    await agent.close()
    await child.stop()
  }
  await sink?.stop()
  await rm(work, { recursive: true, force: true })
}

/** Tracing's whole-run figures: each herd's CPU over the measured rounds (between segments too) per request it answered, and the spans the sink got. */
async function tracingTotals(results: ScenarioResult[], cpuAtStart: (number | undefined)[], sinkUrl: string): Promise<string> {
  const requests = (name: 'herd' | 'traced'): number => results.reduce((n, s) => n + (s.runs[name]?.requests ?? 0), 0)
  const [offStart = 0, onStart = 0, spansAtStart = 0] = cpuAtStart
  const off = ((await endpoints.get('herd')!.child.cpuUs()) - offStart) / requests('herd')
  const on = ((await endpoints.get('traced')!.child.cpuUs()) - onStart) / requests('traced')
  return tracingTable(results, { spans: (await sinkSpans(sinkUrl)) - spansAtStart, tracedRequests: requests('traced'), cpuUsPerReqOff: off, cpuUsPerReqOn: on })
}

async function sinkSpans(url: string): Promise<number> {
  return ((await (await fetch(`${url}/stats`)).json()) as { spans: number }).spans
}

/** The CPU targets at concurrency 16, against the bare fastify+undici proxy of the same run (bare-http's figure as the floor). */
function cpuTargetsAt16(results: ScenarioResult[]): Target[] {
  const j = results.find((x) => !x.stream && x.concurrency === 16)?.cpuUsPerReq
  const st = results.find((x) => x.stream && x.concurrency === 16)?.cpuUsPerReq
  if (j?.bare === undefined || st?.bare === undefined) return []
  const out: Target[] = []
  const ratio = (c: ScenarioResult['cpuUsPerReq'], n: TargetName): number => (c[n] ?? Number.NaN) / (c.bare ?? Number.NaN)
  const floor = (v: number): { floor?: number } => (Number.isFinite(v) ? { floor: v } : {})
  if (j.herd !== undefined && st.herd !== undefined) {
    const perEvent = (n: TargetName): number => ((st[n] ?? Number.NaN) - (j[n] ?? Number.NaN)) / events
    out.push(
      { name: 'CPU/req herd/bare, non-streaming, conc 16', value: ratio(j, 'herd'), limit: 1.3, kind: 'max', unit: 'x', ...floor(ratio(j, 'bare-http')) },
      {
        name: `CPU/req herd/bare, streaming (${events} events), conc 16`,
        value: ratio(st, 'herd'),
        limit: 1.3,
        kind: 'max',
        unit: 'x',
        ...floor(ratio(st, 'bare-http')),
      },
      {
        name: 'CPU per SSE event, herd − bare, conc 16',
        value: perEvent('herd') - perEvent('bare'),
        limit: 10,
        kind: 'max',
        unit: 'µs',
        ...floor(perEvent('bare-http') - perEvent('bare')),
      },
    )
  }
  if (j['herd-all'] !== undefined && st['herd-all'] !== undefined) {
    out.push(
      { name: 'CPU/req herd-all/bare (everything on), non-streaming, conc 16', value: ratio(j, 'herd-all'), limit: 1.5, kind: 'max', unit: 'x' },
      { name: `CPU/req herd-all/bare (everything on), streaming, conc 16`, value: ratio(st, 'herd-all'), limit: 1.5, kind: 'max', unit: 'x' },
    )
  }
  return out
}

/** The targets, all at concurrency 16; each with the bare proxy's figure when it ran. */
function targetsAt16(results: ScenarioResult[]): Target[] {
  const out: Target[] = []
  const j = results.find((x) => !x.stream && x.concurrency === 16)?.runs
  const st = results.find((x) => x.stream && x.concurrency === 16)?.runs
  const floor = (f: (s: Summary) => number, s: ScenarioResult['runs']): { floor?: number } => (s.bare ? { floor: f(s.bare) } : {})
  if (j) {
    const d = j.direct
    out.push(
      { name: 'added p50 latency, non-streaming, conc 16', value: j.herd.p50 - d.p50, limit: 1, kind: 'max', unit: 'ms', ...floor((x) => x.p50 - d.p50, j) },
      { name: 'added p99 latency, non-streaming, conc 16', value: j.herd.p99 - d.p99, limit: 5, kind: 'max', unit: 'ms', ...floor((x) => x.p99 - d.p99, j) },
      {
        name: 'throughput (req/s) herd/direct, non-streaming, conc 16',
        value: j.herd.rps / d.rps,
        limit: 0.8,
        kind: 'min',
        unit: '%',
        ...floor((x) => x.rps / d.rps, j),
      },
    )
  }
  if (st) {
    const d = st.direct
    out.push(
      {
        name: 'added TTFB p50, streaming, conc 16',
        value: st.herd.ttfbP50 - d.ttfbP50,
        limit: 1,
        kind: 'max',
        unit: 'ms',
        ...floor((x) => x.ttfbP50 - d.ttfbP50, st),
      },
      {
        name: 'throughput (events/s) herd/direct, streaming, conc 16',
        value: st.herd.eventsPerSec / d.eventsPerSec,
        limit: 0.8,
        kind: 'min',
        unit: '%',
        ...floor((x) => x.eventsPerSec / d.eventsPerSec, st),
      },
    )
  }
  return out
}

if (profiles !== '') {
  // Beside the report: the top self-time functions (the .cpuprofile files themselves are too big to keep).
  const file = opt.out.replace(/(\.md)?$/, '-profile.md')
  await writeFile(file, `# herd CPU profiles (\`npm run bench:proxy -- --profile\`), ${new Date().toISOString()}\n${profiles}`)
  process.stdout.write(profiles)
  process.stderr.write(`wrote ${file}\n`)
}
