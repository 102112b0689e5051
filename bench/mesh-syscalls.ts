/**
 * npm run bench:mesh:syscalls — system calls per request, direct to B and forwarded via A,
 * counted by `strace -c -f` attached to the daemons (bench:mesh's pair: real daemons, a fake
 * llama-server). Sequential requests, so every call belongs to one request; strace slows
 * the processes down, so read the counts, not the times.
 *
 *   npm run bench:mesh:syscalls -- [--requests 300] [--stream] [--out FILE]
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { MESH_BENCH_MODEL, startMeshPair } from './lib/mesh-cluster.ts'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    requests: { type: 'string', default: '300' },
    stream: { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results', 'mesh-syscalls.md') },
  },
})
const n = Number(opt.requests)
const body = JSON.stringify({ model: MESH_BENCH_MODEL, stream: opt.stream, max_tokens: 32, messages: [{ role: 'user', content: 'Say ok.' }] })
const CALLS = ['read', 'write', 'writev', 'epoll_pwait', 'futex'] as const

/** `strace -c` output as calls per syscall name. */
function parseCounts(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/)
    const name = cols.at(-1)
    // "% time  seconds  usecs/call  calls  [errors]  syscall"
    if (name !== undefined && cols.length >= 5 && /^\d+$/.test(cols[3] ?? '')) out.set(name, Number(cols[3]))
  }
  return out
}

const dir = await mkdtemp(join(tmpdir(), 'herd-bench-syscalls-'))
const pair = await startMeshPair({ gossipIntervalMs: 1000, slots: 4 })
const agent = new Agent({ connections: 1 })
const run = async (url: string, count: number): Promise<void> => {
  for (let i = 0; i < count; i++) {
    const res = await request(`${url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body })
    await res.body.text()
  }
}
const rows: string[] = []
try {
  // Warm-up: JIT, pooled streams, the llama-server spawn.
  await run(pair.a.url, 200)
  await run(pair.b.url, 200)
  for (const [label, url, nodes] of [
    ['direct B: B', pair.b.url, [['B', pair.b.pid]]],
    [
      'via A',
      pair.a.url,
      [
        ['A', pair.a.pid],
        ['B', pair.b.pid],
      ],
    ],
  ] as const) {
    const tracers = nodes.map(([node, pid]) => {
      const file = join(dir, `${label}-${node}.txt`)
      const child = spawn('strace', ['-c', '-f', '-p', String(pid), '-o', file], { stdio: 'ignore' })
      return { node, file, child, exited: once(child, 'exit') }
    })
    // strace needs a moment to attach to every thread.
    await new Promise((r) => setTimeout(r, 500))
    await run(url, n)
    for (const t of tracers) {
      t.child.kill('SIGINT')
      await t.exited
      const counts = parseCounts(await readFile(t.file, 'utf8'))
      const per = (name: string): string => ((counts.get(name) ?? 0) / n).toFixed(1)
      const io = ['read', 'write', 'writev'].reduce((sum, k) => sum + (counts.get(k) ?? 0), 0) / n
      rows.push(`| ${label.startsWith('direct') ? 'direct' : 'via A'} | ${t.node} | ${CALLS.map(per).join(' | ')} | **${io.toFixed(1)}** | ${per('total')} |`)
    }
  }
} finally {
  await agent.close()
  await pair.close()
  await rm(dir, { recursive: true, force: true })
}
const md = [
  '# herd mesh: system calls per request (`npm run bench:mesh:syscalls`)',
  '',
  `- date: ${new Date().toISOString()}, load average ${(loadavg()[0] ?? 0).toFixed(2)}; ${n} sequential ${opt.stream ? 'streaming' : 'non-streaming'} requests, counted by \`strace -c -f\` on each daemon`,
  '',
  `| target | daemon | ${CALLS.join(' | ')} | **read+write+writev** | all |`,
  `|---|---|${CALLS.map(() => '---:').join('|')}|---:|---:|`,
  ...rows,
  '',
]
const text = md.join('\n')
process.stdout.write(text)
await mkdir(dirname(opt.out), { recursive: true })
await writeFile(opt.out, text)
