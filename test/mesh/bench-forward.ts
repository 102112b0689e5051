/**
 * Forward round trip on loopback: a pooled (reused) stream against a fresh stream per
 * request. Both nodes live in this process. 1 KiB request body, echoed back.
 *
 *   node_modules/.bin/node test/mesh/bench-forward.ts [requests=2000]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { pino } from 'pino'
import { createMesh, generateSwarmKey, type Mesh } from '../../src/mesh/index.ts'
import { fakeLocalState } from './helpers.ts'

const N = Number(process.argv[2] ?? 2000)
const WARMUP = 200
const logger = pino({ level: 'silent' })
const secret = generateSwarmKey()
const homes: string[] = []

async function node(name: string, maxIdleStreamsPerPeer: number, peers: string[] = []): Promise<Mesh> {
  const home = await mkdtemp(join(tmpdir(), 'herd-bench-'))
  homes.push(home)
  const mesh = createMesh(
    {
      logger,
      localState: () => fakeLocalState(name),
      onForward: async (req) => ({ status: 200, headers: {}, servedBy: name, body: Readable.from([req.body]) }),
    },
    { home, secret, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, peers, maxIdleStreamsPerPeer },
  )
  await mesh.start()
  return mesh
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function run(label: string, maxIdle: number): Promise<void> {
  const b = await node('b', maxIdle)
  const a = await node('a', maxIdle, [b.addresses()[0]!])
  const deadline = Date.now() + 5000
  while (!a.peers().some((p) => p.id === b.peerId)) {
    if (Date.now() > deadline) throw new Error('nodes did not connect')
    await new Promise((r) => setTimeout(r, 10))
  }
  const body = Buffer.alloc(1024, 7)
  const times: number[] = []
  for (let i = 0; i < WARMUP + N; i++) {
    const t0 = process.hrtime.bigint()
    const res = await a.forward(
      b.peerId,
      { requestId: `r${i}`, method: 'POST', path: '/echo', headers: {}, hops: 1, body },
      { signal: AbortSignal.timeout(5000) },
    )
    const out = await text(res.body)
    if (out.length !== 1024) throw new Error('bad echo')
    if (i >= WARMUP) times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((x, y) => x - y)
  const mean = times.reduce((s, t) => s + t, 0) / times.length
  const stats = a.streamStats(b.peerId)
  process.stdout.write(
    `${label.padEnd(22)} n=${N} p50=${pct(times, 50).toFixed(3)}ms p90=${pct(times, 90).toFixed(3)}ms p99=${pct(times, 99).toFixed(3)}ms mean=${mean.toFixed(3)}ms streams opened=${stats.opened} reused=${stats.reused}\n`,
  )
  await a.stop()
  await b.stop()
}

try {
  await run('reused stream (pool 8)', 8)
  await run('fresh stream (pool 0)', 0)
  await run('reused stream (pool 8)', 8)
  await run('fresh stream (pool 0)', 0)
} finally {
  await Promise.all(homes.map((h) => rm(h, { recursive: true, force: true })))
}
