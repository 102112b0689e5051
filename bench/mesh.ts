/**
 * npm run bench:mesh — what the mesh costs and how fast it converges, on loopback.
 *
 * 1. Forwarding: two real daemons (dist/daemon.js) in child processes, B serving from a
 *    fake llama-server, A serving nothing and told only of B. "direct B" = the request sent
 *    to B's HTTP API; "via A" = the same request sent to A, which forwards it over
 *    `/herd/forward/1.0.0`. Non-streaming, streaming (all events at once) and streaming at a
 *    token rate, at each concurrency; the two targets alternate, round after round.
 * 2. Gossip convergence: N in-process meshes told of one another as a star or a chain;
 *    time to full discovery, then time for one node's state change to reach all others.
 *
 *   npm run bench:mesh -- [--duration-ms 1000] [--rounds 3] [--concurrency 1,16]
 *     [--runs 10:star,10:chain,30:star] [--gossip-ms 1000] [--state-trials 5]
 *     [--skip-forward] [--skip-gossip] [--profile] [--out FILE]
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { profileMarkdown, summarizeProfile } from './lib/cpuprofile.ts'
import { runLoad, type LoadResult } from './lib/load.ts'
import { MESH_BENCH_MODEL, MESH_BENCH_PACED_MODEL, PACED_TOKEN_RATE, startMeshPair, type MeshPair } from './lib/mesh-cluster.ts'
import { measureConvergence, type ConvergenceResult, type Topology } from './lib/mesh-gossip.ts'
import {
  convergenceNumbers,
  convergenceTable,
  forwardLatencyTable,
  forwardThroughputTable,
  meshMet,
  meshTargetTable,
  type ForwardScenario,
  type MeshTarget,
  type ScenarioKind,
} from './lib/mesh-report.ts'
import { ioSyscalls } from './lib/proc-stats.ts'
import { summarize } from './lib/stats.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    'duration-ms': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,16' },
    runs: { type: 'string', default: '10:star,10:chain,30:star' },
    'gossip-ms': { type: 'string', default: '1000' },
    'state-trials': { type: 'string', default: '5' },
    'skip-forward': { type: 'boolean', default: false },
    'skip-gossip': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results', 'mesh.md') },
  },
})
const durationMs = Number(opt['duration-ms'])
const rounds = Number(opt.rounds)
const levels = opt.concurrency.split(',').map(Number)
const gossipMs = Number(opt['gossip-ms'])
const PATH = '/v1/chat/completions'
const TOKENS = 32
const KINDS: ScenarioKind[] = ['json', 'burst', 'paced']
const body = (kind: ScenarioKind): string =>
  JSON.stringify({
    model: kind === 'paced' ? MESH_BENCH_PACED_MODEL : MESH_BENCH_MODEL,
    stream: kind !== 'json',
    max_tokens: TOKENS,
    messages: [{ role: 'user', content: 'Say ok.' }],
  })
const load0 = loadavg()[0] ?? 0
const wallStart = performance.now()
const log = (line: string): void => void process.stderr.write(`bench:mesh: ${line}\n`)

type Via = 'direct' | 'via'

/** SSE events (before [DONE]) in one streamed answer, and their mean size: counted once, so the load generator can flag short streams. */
async function probeStream(url: string): Promise<{ events: number; bytes: number }> {
  const res = await fetch(`${url}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('burst') })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`streaming probe answered ${res.status}: ${text.slice(0, 200)}`)
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
  return { events: events.length, bytes: Math.round(events.reduce((n, e) => n + e.length + 2, 0) / events.length) }
}

interface ForwardResults {
  rows: ForwardScenario[]
  sse: { events: number; bytes: number }
  /** Idle CPU of each daemon, µs per ms. */
  idle: { a: number; b: number }
  /** Idle read/write system calls of each daemon, per ms. */
  idleSys: { a: number; b: number }
  profiles: string[]
}

async function forwardBench(profileDir: string | undefined): Promise<ForwardResults> {
  const connections = Math.max(...levels)
  log('starting daemons A and B')
  const pair: MeshPair = await startMeshPair({ gossipIntervalMs: gossipMs, slots: Math.max(32, connections) })
  const agents = { direct: new Agent({ connections, keepAliveTimeout: 60_000 }), via: new Agent({ connections, keepAliveTimeout: 60_000 }) }
  const urls = { direct: pair.b.url, via: pair.a.url }
  const profiles: string[] = []
  try {
    const sse = await probeStream(pair.b.url)
    const usage = async (): Promise<{ a: number; b: number; sa: number; sb: number }> => {
      const [a, b, sa, sb] = await Promise.all([pair.a.cpuUs(), pair.b.cpuUs(), ioSyscalls(pair.a.pid), ioSyscalls(pair.b.pid)])
      return { a, b, sa, sb }
    }
    // What each daemon burns doing nothing (heartbeats, timers, telemetry), µs per ms: taken
    // out of the per-request CPU below so that a slow scenario is not charged for idling.
    // Measured after the warm-up, in the steady state the rounds run in: right after the
    // first cold start B is still settling its new llama-server (~7 % of a core for a
    // second, against ~1 % idle after), which would be taken off every request.
    const idle = { a: 0, b: 0 }
    const idleSys = { a: 0, b: 0 }
    const measureIdle = async (): Promise<void> => {
      const t0 = performance.now()
      const u0 = await usage()
      await new Promise((r) => setTimeout(r, 1000))
      const u1 = await usage()
      const ms = performance.now() - t0
      Object.assign(idle, { a: (u1.a - u0.a) / ms, b: (u1.b - u0.b) / ms })
      Object.assign(idleSys, { a: (u1.sa - u0.sa) / ms, b: (u1.sb - u0.sb) / ms })
    }
    interface SegmentResult {
      load: LoadResult
      cpuA: number
      cpuB: number
      sysA: number
      sysB: number
    }
    const segment = async (target: Via, kind: ScenarioKind, concurrency: number, ms: number): Promise<SegmentResult> => {
      const t0 = performance.now()
      const u0 = await usage()
      const stream = kind !== 'json'
      const load = await runLoad({
        dispatcher: agents[target],
        origin: urls[target],
        path: PATH,
        body: body(kind),
        stream,
        concurrency,
        durationMs: ms,
        expectEvents: sse.events,
      })
      const u1 = await usage()
      const elapsed = performance.now() - t0
      const net = (d: number, perMs: number): number => Math.max(0, d - perMs * elapsed)
      return {
        load,
        cpuA: net(u1.a - u0.a, idle.a),
        cpuB: net(u1.b - u0.b, idle.b),
        sysA: net(u1.sa - u0.sa, idleSys.a),
        sysB: net(u1.sb - u0.sb, idleSys.b),
      }
    }
    // Warm-up (JIT, connections, both llama-server spawns, pooled forward streams), discarded.
    for (const kind of KINDS) for (const t of ['direct', 'via'] as const) await segment(t, kind, connections, 400)
    await measureIdle()

    const scenarios = KINDS.flatMap((kind) => levels.map((concurrency) => ({ kind, stream: kind !== 'json', concurrency })))
    const acc = scenarios.map(() => ({
      direct: [] as LoadResult[],
      via: [] as LoadResult[],
      cpu: { directB: 0, viaA: 0, viaB: 0 },
      sys: { directB: 0, viaA: 0, viaB: 0 },
    }))
    log(
      `forwarding: ${scenarios.length} scenarios x 2 targets x ${rounds} rounds x ${durationMs} ms ≈ ${Math.round((scenarios.length * 2 * rounds * durationMs) / 1000)} s`,
    )
    if (profileDir) await Promise.all([pair.a.profileStart(), pair.b.profileStart()])
    for (let r = 0; r < rounds; r++) {
      for (const [i, s] of scenarios.entries()) {
        // Alternate which target goes first, per round and per scenario.
        const order: Via[] = (r + i) % 2 === 0 ? ['direct', 'via'] : ['via', 'direct']
        for (const t of order) {
          const { load, cpuA, cpuB, sysA, sysB } = await segment(t, s.kind, s.concurrency, durationMs)
          const a = acc[i]!
          a[t].push(load)
          if (t === 'direct') {
            a.cpu.directB += cpuB
            a.sys.directB += sysB
          } else {
            a.cpu.viaA += cpuA
            a.cpu.viaB += cpuB
            a.sys.viaA += sysA
            a.sys.viaB += sysB
          }
        }
      }
      log(`  round ${r + 1}/${rounds} done`)
    }
    if (profileDir) {
      for (const [name, child] of [
        ['a', pair.a],
        ['b', pair.b],
      ] as const) {
        const file = join(profileDir, `${name}.cpuprofile`)
        await child.profileStop(file)
        profiles.push(file)
      }
    }
    const rows = scenarios.map((s, i): ForwardScenario => {
      const a = acc[i]!
      const direct = summarize(a.direct)
      const via = summarize(a.via)
      return {
        ...s,
        direct,
        via,
        cpuUsPerReq: { directB: a.cpu.directB / direct.requests, viaA: a.cpu.viaA / via.requests, viaB: a.cpu.viaB / via.requests },
        syscallsPerReq: { directB: a.sys.directB / direct.requests, viaA: a.sys.viaA / via.requests, viaB: a.sys.viaB / via.requests },
      }
    })
    return { rows, sse, idle, idleSys, profiles }
  } finally {
    await agents.direct.close()
    await agents.via.close()
    await pair.close()
  }
}

async function gossipBench(): Promise<ConvergenceResult[]> {
  const out: ConvergenceResult[] = []
  for (const run of opt.runs.split(',')) {
    const [n, topology] = run.split(':') as [string, Topology]
    const nodes = Number(n)
    log(`gossip: ${nodes} nodes, ${topology}, heartbeat ${gossipMs} ms`)
    out.push(
      await measureConvergence({
        nodes,
        topology,
        gossipIntervalMs: gossipMs,
        stateTrials: Number(opt['state-trials']),
        heartbeatTrials: 2,
        timeoutMs: 25 * gossipMs,
      }),
    )
  }
  return out
}

// A profile names functions by file: from the bundle (dist/) every one would sit in a chunk, so profiled daemons run from src/.
if (opt.profile) process.env['HERD_BENCH_DAEMON'] ??= 'src'
const profileDir = opt.profile ? await mkdtemp(join(tmpdir(), 'herd-bench-mesh-prof-')) : undefined
const fwd = opt['skip-forward'] ? undefined : await forwardBench(profileDir)
const gossip = opt['skip-gossip'] ? [] : await gossipBench()

const targets: MeshTarget[] = []
const find = (kind: ScenarioKind, c: number): ForwardScenario | undefined => fwd?.rows.find((r) => r.kind === kind && r.concurrency === c)
for (const c of levels) {
  const j = find('json', c)
  // Issue 12 asks ≤ 1 ms under load (16 in flight); unloaded the older ≤ 2 ms stands.
  const limit = c >= 16 ? 1 : 2
  if (j) targets.push({ name: `a hop adds ≤ ${limit} ms p50 (non-streaming, conc ${c})`, value: j.via.p50 - j.direct.p50, limit, kind: 'max', unit: 'ms' })
}
for (const kind of KINDS) {
  const s = find(kind, Math.max(...levels))
  if (s)
    targets.push({
      name: `CPU of a hop (A + B) ≤ 2× a local relay (B direct), per request (${kind}; conc ${s.concurrency})`,
      value: (s.cpuUsPerReq.viaA + s.cpuUsPerReq.viaB) / s.cpuUsPerReq.directB,
      limit: 2,
      kind: 'max',
      unit: '×',
    })
}
for (const kind of ['burst', 'paced'] as const) {
  for (const c of levels) {
    const s = find(kind, c)
    const what = kind === 'burst' ? 'all events at once' : `${PACED_TOKEN_RATE} tokens/s`
    if (s)
      targets.push({
        name: `streaming through one hop ≥ 90 % of direct (events/s; ${what}; conc ${c})`,
        value: s.via.eventsPerSec / s.direct.eventsPerSec,
        limit: 0.9,
        kind: 'min',
        unit: '%',
      })
  }
}
const biggest = Math.max(...gossip.map((g) => g.nodes))
for (const g of gossip.filter((x) => x.nodes === biggest)) {
  const n = convergenceNumbers(g)
  targets.push({
    name: `state change reaches all within 2 heartbeats (${g.nodes} nodes, ${g.topology}, worst of ${g.stateMs.length} trials)`,
    value: n.stateMaxHb,
    limit: 2,
    kind: 'max',
    unit: 'heartbeats',
  })
}
for (const g of gossip.filter((x) => x.nodes === biggest)) {
  targets.push({
    name: `full-mesh discovery within 2 heartbeats (${g.nodes} nodes, ${g.topology})`,
    value: convergenceNumbers(g).discoveryHb,
    limit: 2,
    kind: 'max',
    unit: 'heartbeats',
  })
}

const cpu = cpus()
const md: string[] = [
  '# herd mesh: forwarding cost and gossip convergence (`npm run bench:mesh`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, ${process.platform}/${process.arch}, load average at start ${load0.toFixed(2)} (other work shares these cores)`,
  `- whole run: ${((performance.now() - wallStart) / 1000).toFixed(0)} s`,
]
if (fwd) {
  const rowsOf = (kind: ScenarioKind): ForwardScenario[] => fwd.rows.filter((r) => r.kind === kind)
  md.push(
    `- forwarding: two daemons (dist/daemon.js, the bundle bin/herd runs) in their own processes on loopback, mesh with explicit peers (mDNS off, pnet + Noise + yamux), heartbeat ${gossipMs} ms. ` +
      `B serves \`${MESH_BENCH_MODEL}\` from the fake llama-server (test/fixtures, FAKE_TOKEN_RATE=0: the whole answer at once) and \`${MESH_BENCH_PACED_MODEL}\` (the same at ${PACED_TOKEN_RATE} tokens/s, one SSE event per token); A serves nothing. ` +
      "**direct B** = request to B's HTTP API; **via A** = the same request to A, forwarded to B over `/herd/forward/1.0.0`. " +
      `Closed loop, ${rounds} rounds x ${durationMs} ms per scenario and target, the two alternating. Streams carry ${fwd.sse.events} SSE events (~${fwd.sse.bytes} B each: role, ${TOKENS} tokens, finish), then [DONE]. ` +
      "Latency: send to last byte; TTFB: send to first body byte. The load generator, A, B and the fake llama-servers share the machine's cores. " +
      `CPU µs/req: the daemon's CPU time (all threads, utime + stime) per answered request, less what it burns idle (A ${(fwd.idle.a / 10).toFixed(1)} %, B ${(fwd.idle.b / 10).toFixed(1)} % of a core). ` +
      `Syscalls/req: read/write-family system calls of the daemon (/proc/PID/io syscr + syscw) per answered request, less its idle rate (A ${(fwd.idleSys.a * 1000).toFixed(0)}/s, B ${(fwd.idleSys.b * 1000).toFixed(0)}/s).`,
    '',
    '## Forwarding: non-streaming',
    '',
    'Latency (ms):',
    '',
    forwardLatencyTable(rowsOf('json')),
    '',
    'Throughput and CPU:',
    '',
    forwardThroughputTable(rowsOf('json')),
    '',
    '## Forwarding: streaming, all events at once',
    '',
    'Time to first byte (ms):',
    '',
    forwardLatencyTable(rowsOf('burst')),
    '',
    'Throughput (events/s) and CPU:',
    '',
    forwardThroughputTable(rowsOf('burst')),
    '',
    `## Forwarding: streaming at ${PACED_TOKEN_RATE} tokens/s`,
    '',
    'Time to first byte (ms):',
    '',
    forwardLatencyTable(rowsOf('paced')),
    '',
    'Throughput (events/s) and CPU:',
    '',
    forwardThroughputTable(rowsOf('paced')),
    '',
  )
}
if (gossip.length > 0) {
  md.push(
    '## Gossip convergence',
    '',
    'N meshes in this one process (createMesh, loopback, explicit peers, mDNS off), told of one another as a **star** (every node knows only the hub) ' +
      'or a **chain** (node i knows only node i-1), started in that order. **Discovery**: all started → every node holds a state from every other node ' +
      '(found through the peers lists in gossip, dialled, heard from). **State change**: in the resulting full mesh, one node changes its state and calls ' +
      `notifyChanged(); time until the last other node has applied it (${opt['state-trials']} trials, each from another node, at different points of the heartbeat cycle). ` +
      '"Heartbeat-only" is the same change without notifyChanged(). Heartbeats = time / gossip interval. ' +
      '"CPU busy" = this process\'s CPU time over wall time during discovery / during the state trials (100 % = one core): all N nodes share it, so near ' +
      'the cores this process can get, times here measure CPU, not the protocol. "CPU/conn" = discovery CPU over the N(N-1)/2 connections of the full mesh (both ends, in this process).',
    '',
    convergenceTable(gossip),
    '',
  )
}
md.push('## Targets', '', meshTargetTable(targets), '', `${targets.filter(meshMet).length}/${targets.length} targets met.`, '')
const text = md.join('\n')
process.stdout.write(text)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, text)
log(`wrote ${opt.out}`)
for (const file of fwd?.profiles ?? []) {
  process.stdout.write(
    `\n## CPU profile of daemon ${file.endsWith('a.cpuprofile') ? 'A' : 'B'}, measured rounds (${file})\n\n${profileMarkdown(await summarizeProfile(file, 20))}\n`,
  )
}
