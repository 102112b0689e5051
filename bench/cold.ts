/**
 * npm run bench:cold — what herd adds to a cold start, with a real llama-server and a tiny
 * model (test/fixtures/tiny-gguf.ts).
 *
 * - **by hand**: spawn llama-server, poll `/health` every 5 ms until 200, send the request;
 *   time from spawn to the answer's last byte: llama-server's own start-to-first-answer.
 * - **through herd**: a daemon (dist/daemon.js, the bundle bin/herd runs, or src/daemon.ts
 *   with HERD_BENCH_DAEMON=src; its own process, mesh off) with the model
 *   cold; time from sending it the same request to the answer's last byte. Then the model
 *   is unloaded and the daemon waits until its instance is gone, for the next run.
 *
 * The two alternate, run after run (which goes first alternates too), N runs each.
 *
 *   npm run bench:cold -- [--runs 15] [--args "-c 512 -np 1 -t 1"] [--out FILE]
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { writeTinyGguf } from '../test/fixtures/tiny-gguf.ts'
import { ensureLlamaServer, freePort } from '../test/helpers/llama-server.ts'
import { startDaemonChild } from './lib/daemon-child.ts'
import { percentile } from './lib/stats.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    // -nr: no weight repacking (SPEC §12: the AMX path of this build crashes on some models).
    args: { type: 'string', default: '-c 512 -np 1 -t 1 -nr' },
    out: { type: 'string', default: join(here, 'results', 'cold.md') },
  },
})
const runs = Number(opt.runs)
const serverArgs = opt.args.split(/\s+/).filter(Boolean)
const MODEL = 'tiny'
const POLL_MS = 5
const BODY = JSON.stringify({ model: MODEL, max_tokens: 2, temperature: 0, messages: [{ role: 'user', content: 'hi' }] })
const log = (line: string): void => void process.stderr.write(`bench:cold: ${line}\n`)
const load0 = loadavg()[0] ?? 0

const dir = await mkdtemp(join(tmpdir(), 'herd-bench-cold-'))
const agent = new Agent({ connections: 4 })
const binary = await ensureLlamaServer()
const modelPath = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path

async function chat(url: string): Promise<void> {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: BODY })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${text.slice(0, 300)}`)
}

/** Spawn to answer, llama-server alone, polled as a careful client would. */
async function byHand(): Promise<number> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const t0 = performance.now()
  const child = spawn(binary, ['-m', modelPath, ...serverArgs, '--host', '127.0.0.1', '--port', String(port)], { stdio: 'ignore' })
  const exited = once(child, 'exit')
  try {
    const deadline = t0 + 30_000
    for (;;) {
      const ok = await request(`${url}/health`, { dispatcher: agent }).then(
        async (r) => (await r.body.dump(), r.statusCode === 200),
        () => false,
      )
      if (ok) break
      if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}`)
      if (performance.now() > deadline) throw new Error('llama-server not healthy within 30 s')
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
    await chat(url)
    return performance.now() - t0
  } finally {
    child.kill('SIGKILL')
    await exited
  }
}

const cookbook = { models: [{ name: MODEL, profiles: [{ id: 'default', model_path: modelPath, llama_server_args: serverArgs, idle_timeout_seconds: 3600 }] }] }
const herd = await startDaemonChild({ dir, name: 'cold', cookbook, mesh: { enabled: false }, llama: binary })

async function instances(): Promise<number> {
  const res = await request(`${herd.url}/admin/instances`, { dispatcher: agent })
  return ((await res.body.json()) as { instances: unknown[] }).instances.length
}

/** Cold request to answer through herd; then unload and wait until the instance has gone. */
async function throughHerd(): Promise<number> {
  if ((await instances()) !== 0) throw new Error('the model is not cold')
  const t0 = performance.now()
  await chat(herd.url)
  const ms = performance.now() - t0
  const res = await request(`${herd.url}/admin/unload`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: '{}' })
  await res.body.dump()
  const deadline = Date.now() + 10_000
  while ((await instances()) !== 0) {
    if (Date.now() > deadline) throw new Error('the instance did not go within 10 s of unloading')
    await new Promise((r) => setTimeout(r, 20))
  }
  return ms
}

const samples = { hand: [] as number[], herd: [] as number[] }
try {
  // One of each first, discarded: page cache, JIT, the daemon's first request.
  await byHand()
  await throughHerd()
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? (['hand', 'herd'] as const) : (['herd', 'hand'] as const)
    for (const which of order) samples[which].push(which === 'hand' ? await byHand() : await throughHerd())
    log(`run ${i + 1}/${runs}: by hand ${samples.hand.at(-1)?.toFixed(1)} ms, through herd ${samples.herd.at(-1)?.toFixed(1)} ms`)
  }
} finally {
  await herd.stop()
  await agent.close()
  await rm(dir, { recursive: true, force: true })
}

const stats = (xs: number[]): { p50: number; p90: number; min: number; max: number } => {
  const s = Float64Array.from(xs).sort()
  return { p50: percentile(s, 50), p90: percentile(s, 90), min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN }
}
const hand = stats(samples.hand)
const viaHerd = stats(samples.herd)
// Added per run pair as well: the pairs ran back to back, under the same load.
const added = stats(samples.herd.map((v, i) => v - (samples.hand[i] ?? Number.NaN)))
const f1 = (v: number): string => v.toFixed(1)
const cpu = cpus()
const md = [
  '# herd cold start: llama-server by hand versus through herd (`npm run bench:cold`)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), node ${process.version}, load average at start ${load0.toFixed(2)}, at end ${(loadavg()[0] ?? 0).toFixed(2)} (other work shares these cores)`,
  `- llama-server ${binary}, args \`${serverArgs.join(' ')}\`, the tiny GGUF of test/fixtures (~200 KB), request: chat, max_tokens 2`,
  `- **by hand**: spawn → \`/health\` polled every ${POLL_MS} ms until 200 → the request → its last byte. **through herd**: the same request sent to a daemon with the model cold → its last byte (herd spawns, waits for ready, reads the slot layout, relays). ${runs} runs each, alternating.`,
  '',
  '| | p50 ms | p90 ms | min ms | max ms |',
  '|---|---:|---:|---:|---:|',
  `| by hand | ${f1(hand.p50)} | ${f1(hand.p90)} | ${f1(hand.min)} | ${f1(hand.max)} |`,
  `| through herd | ${f1(viaHerd.p50)} | ${f1(viaHerd.p90)} | ${f1(viaHerd.min)} | ${f1(viaHerd.max)} |`,
  `| **added by herd** (per run pair) | **${f1(added.p50)}** | ${f1(added.p90)} | ${f1(added.min)} | ${f1(added.max)} |`,
  '',
  `Target: herd adds ≤ 10 ms (p50 of the pairs): **${added.p50 <= 10 ? 'met' : 'missed'}**.`,
  '',
]
const text = md.join('\n')
process.stdout.write(text)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, text)
log(`wrote ${opt.out}`)
