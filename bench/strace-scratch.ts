import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Agent, request } from 'undici'
import { startMeshPair, MESH_BENCH_MODEL } from './lib/mesh-cluster.ts'
const N = Number(process.env.N ?? 300)
const stream = process.env.STREAM === '1'
const body = JSON.stringify({ model: MESH_BENCH_MODEL, stream, max_tokens: 32, messages: [{ role: 'user', content: 'Say ok.' }] })
const pair = await startMeshPair({ gossipIntervalMs: 1000, slots: 32 })
const agent = new Agent({ connections: 4 })
const run = async (url: string, n: number) => {
  for (let i = 0; i < n; i++) {
    const r = await request(`${url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body })
    await r.body.text()
  }
}
try {
  await run(pair.a.url, 200)
  await run(pair.b.url, 200)
  for (const [name, url, pids] of [
    ['direct', pair.b.url, [pair.b.pid]],
    ['via', pair.a.url, [pair.a.pid, pair.b.pid]],
  ] as const) {
    const tr = pids.map((pid) => {
      const p = spawn('strace', ['-c', '-f', '-p', String(pid), '-o', `/tmp/strace-${name}-${pid}.txt`], { stdio: 'ignore' })
      return p
    })
    await new Promise((r) => setTimeout(r, 500))
    await run(url, N)
    for (const p of tr) {
      p.kill('SIGINT')
      await once(p, 'exit')
    }
    console.log(name, pids.map((p) => `/tmp/strace-${name}-${p}.txt`).join(' '))
  }
} finally {
  await agent.close()
  await pair.close()
}
import { readFileSync, readdirSync } from 'node:fs'
for (const f of readdirSync('/tmp').filter((f) => f.startsWith('strace-') && f.endsWith('.txt'))) {
  const t = readFileSync(`/tmp/${f}`, 'utf8')
  const n = (name: string) =>
    Number(
      t
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .find((c) => c[c.length - 1] === name)?.[3] ?? 0,
    )
  console.log(
    f,
    'read',
    (n('read') / N).toFixed(2),
    'write',
    (n('write') / N).toFixed(2),
    'writev',
    (n('writev') / N).toFixed(2),
    'epoll',
    (n('epoll_pwait') / N).toFixed(2),
    'total',
    (n('total') / N).toFixed(2),
  )
}
