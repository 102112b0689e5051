/**
 * npm run bench:memory — resident memory (VmRSS) of a herd daemon: idle after startup has
 * settled, with the mesh off and on, and while it relays 64 concurrent streams from a fake
 * llama-server. The daemons are what a user runs: `bin/herd start` (the bundle in dist/,
 * rebuilt first if the source is newer). Beside VmRSS, how much of it is anonymous memory (V8's
 * heap, malloc) and how much file-backed pages (the node binary's own code and data).
 *
 *   npm run bench:memory -- [--streams 64] [--stream-ms 4000] [--flags "…"] [--main FILE] [--out FILE]
 *
 * `--flags` (or HERD_BENCH_NODE_FLAGS) replaces bin/herd's Node flags (`--flags ""`: Node's
 * defaults); `--main src/cli/main.ts` runs the source instead of dist/main.js (to compare).
 * Either runs Node directly with the other half as bin/herd has it.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { generateSwarmKey } from '../src/mesh/index.ts'
import { makeFakeModel } from '../test/fixtures/fake-llama.ts'
import { daemonNodeFlags, fakeLlamaServer, startBinHerd, type HerdChild } from './lib/daemon-child.ts'
import { rssMiB } from './lib/proc-stats.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    streams: { type: 'string', default: '64' },
    'stream-ms': { type: 'string', default: '4000' },
    flags: { type: 'string' },
    main: { type: 'string' },
    out: { type: 'string', default: join(here, 'results', 'memory.md') },
  },
})
const streams = Number(opt.streams)
const streamMs = Number(opt['stream-ms'])
/** Tokens per second of each stream: one SSE event per token, as llama-server writes them. */
const TOKEN_RATE = 50
const log = (line: string): void => void process.stderr.write(`bench:memory: ${line}\n`)
const load0 = loadavg()[0] ?? 0

const flagsGiven = opt.flags !== undefined || process.env['HERD_BENCH_NODE_FLAGS'] !== undefined
const flags = opt.flags === undefined ? await daemonNodeFlags() : opt.flags.split(/\s+/).filter(Boolean)
const main = opt.main === undefined ? undefined : resolve(opt.main)

/** Anonymous and file-backed resident memory (smaps_rollup), MiB: NaN where /proc has no such file. */
async function rssSplit(pid: number): Promise<{ anon: number; file: number }> {
  try {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN)
    return { anon: kb('Anonymous') / 1024, file: (kb('Rss') - kb('Anonymous')) / 1024 }
  } catch {
    return { anon: Number.NaN, file: Number.NaN }
  }
}

/** RSS once it has stopped moving: two samples 500 ms apart within 0.5 MiB, at most 10 s after start. */
async function settledRss(pid: number): Promise<number> {
  let last = await rssMiB(pid)
  const deadline = Date.now() + 10_000
  for (;;) {
    await new Promise((r) => setTimeout(r, 500))
    const now = await rssMiB(pid)
    if (Math.abs(now - last) < 0.5 || Date.now() > deadline) return now
    last = now
  }
}

const dir = await mkdtemp(join(tmpdir(), 'herd-bench-memory-'))
const agent = new Agent({ connections: streams + 4 })
const rows: string[] = []
let ran = 'unknown'
const results: Record<string, number> = {}
try {
  const llama = await fakeLlamaServer(dir, { FAKE_TOKEN_RATE: TOKEN_RATE })
  const model = await makeFakeModel(dir)
  const secretFile = join(dir, 'cluster.key')
  await writeFile(secretFile, generateSwarmKey(), { mode: 0o600 })
  const cookbook = {
    models: [
      {
        name: 'bench',
        profiles: [{ id: 'default', model_path: model, llama_server_args: ['-np', String(streams)], max_queue_size: 1024, idle_timeout_seconds: 3600 }],
      },
    ],
  }
  const meshOn = { enabled: true, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], secret_file: secretFile }
  const start = (name: string, mesh: Record<string, unknown>): Promise<HerdChild> =>
    startBinHerd({ dir, name, cookbook, llama, mesh, ...(flagsGiven ? { execArgv: flags } : {}), ...(main === undefined ? {} : { main }) })

  for (const [name, mesh] of [
    ['mesh off', { enabled: false }],
    ['mesh on', meshOn],
  ] as const) {
    log(`${name}: starting a daemon`)
    const d = await start(name.replace(' ', '-'), mesh)
    // What the process runs (bin/herd picks dist/ or src/): the results say which was measured.
    ran = (await readFile(`/proc/${d.pid}/cmdline`, 'utf8').catch(() => '')).split('\0').find((a) => /main\.[jt]s$/.test(a)) ?? ran
    try {
      const idle = await settledRss(d.pid)
      const split = await rssSplit(d.pid)
      results[`idle ${name}`] = idle
      rows.push(`| idle, ${name} (no model loaded) | ${idle.toFixed(1)} | ${split.anon.toFixed(1)} | ${split.file.toFixed(1)} |`)
      if (name !== 'mesh on') continue
      // The model loads (a fake llama-server, its own process): that is not the daemon's memory.
      const tokens = Math.ceil((TOKEN_RATE * streamMs) / 1000)
      const body = JSON.stringify({ model: 'bench', stream: true, max_tokens: tokens, messages: [{ role: 'user', content: 'Say ok.' }] })
      const one = async (): Promise<number> => {
        const res = await request(`${d.url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body })
        if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${await res.body.text()}`)
        let events = 0
        for await (const chunk of res.body) events += String(chunk).split('\n\n').length - 1
        return events
      }
      await request(`${d.url}/v1/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bench', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
      }).then((r) => r.body.dump())
      const loaded = await settledRss(d.pid)
      results['loaded'] = loaded
      rows.push(`| idle, ${name}, model loaded (warm instance) | ${loaded.toFixed(1)} | | |`)
      log(`${streams} streams of ${tokens} tokens at ${TOKEN_RATE}/s`)
      const samples: number[] = []
      let running = true
      const sampler = (async () => {
        while (running) {
          samples.push(await rssMiB(d.pid))
          await new Promise((r) => setTimeout(r, 100))
        }
      })()
      const counts = await Promise.all(Array.from({ length: streams }, one))
      running = false
      await sampler
      const peak = Math.max(...samples)
      const sorted = [...samples].sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
      results['streams peak'] = peak
      rows.push(
        `| ${streams} concurrent streams (${TOKEN_RATE} tokens/s each, ${(streamMs / 1000).toFixed(0)} s), median of samples | ${median.toFixed(1)} | | |`,
      )
      rows.push(`| ${streams} concurrent streams, **peak** | **${peak.toFixed(1)}** | | |`)
      const after = await settledRss(d.pid)
      const afterSplit = await rssSplit(d.pid)
      rows.push(`| after the streams, settled | ${after.toFixed(1)} | ${afterSplit.anon.toFixed(1)} | ${afterSplit.file.toFixed(1)} |`)
      const short = counts.filter((c) => c < tokens).length
      if (short > 0) log(`warning: ${short} streams carried fewer than ${tokens} events`)
    } finally {
      await d.stop()
    }
  }
} finally {
  await agent.close()
  await rm(dir, { recursive: true, force: true })
}

/** The targets are in MB (10^6 bytes); the table in MiB. */
const MB = 1e6 / 2 ** 20
const idleOn = results['idle mesh on'] ?? Number.NaN
const peak = results['streams peak'] ?? Number.NaN
const cpu = cpus()
const md = [
  '# herd daemon memory (`npm run bench:memory`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, load average at start ${load0.toFixed(2)}`,
  `- daemon: ${flagsGiven || main !== undefined ? `\`node ${flags.join(' ')} ${relative(join(here, '..'), ran)} start\`${flagsGiven ? '' : " (bin/herd's flags)"}` : `\`bin/herd start\` (running ${relative(join(here, '..'), ran)}, Node flags \`${flags.join(' ')}\`)`}; mesh on: pnet + Noise + yamux listening on loopback, no peers, mDNS off; logging off. VmRSS of /proc/PID/status; "settled": two samples 500 ms apart within 0.5 MiB. Streams: a fake llama-server (its own process, not counted) at ${TOKEN_RATE} tokens/s, sampled every 100 ms.`,
  '',
  '| daemon state | VmRSS MiB | anonymous MiB | file-backed MiB |',
  '|---|---:|---:|---:|',
  ...rows,
  '',
  `Targets: idle with the mesh on ≤ 120 MB (${(120 * MB).toFixed(1)} MiB): ${idleOn.toFixed(1)} MiB, **${idleOn <= 120 * MB ? 'met' : 'missed'}**; at ${streams} concurrent streams ≤ 200 MB (${(200 * MB).toFixed(1)} MiB): ${peak.toFixed(1)} MiB, **${peak <= 200 * MB ? 'met' : 'missed'}**.`,
  '',
]
const text = md.join('\n')
process.stdout.write(text)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, text)
log(`wrote ${opt.out}`)
