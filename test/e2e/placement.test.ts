/**
 * Placement by free memory, end to end: real herd processes and llama-servers, a fake
 * nvidia-smi whose answers the test stages (real GPUs are not needed to test the logic
 * that reads them).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { createFakeNvidiaSmi, fakeGpu, type FakeNvidiaSmi } from '../fixtures/fake-nvidia-smi.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import type { ClusterNode } from '../helpers/ns-herd.ts'
import { waitFor } from '../helpers/poll.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

let dir: string
let model: string
const running: HerdProcess[] = []
const smis: FakeNvidiaSmi[] = []

interface ModelView {
  id: string
  canFitNow: boolean
  canFitAfterEviction: boolean
  estimatedVramMb: number | null
  estimatedSysmemMb: number | null
  instances: number
}
type NodeView = Omit<ClusterNode, 'models'> & { resources: { gpus: { freeMb: number; totalMb: number }[] }; models: ModelView[] }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-placement-'))
  model = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.dispose()))
  await Promise.all(smis.splice(0).map((s) => s.cleanup()))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const profile = (name: string, extra = '') => ({
  name,
  profiles: [{ id: 'default', model_path: model, llama_server_args: `-c 512 -t 1 ${extra}`.trim(), idle_timeout_seconds: 600 }],
})

/** `trackMb`: the fake driver shows every llama-server of this file using that much VRAM while its process lives. */
async function gpuNode(
  name: string,
  usedMb: number,
  options: { models?: unknown[]; peers?: string[]; maxVramMb?: number; home?: string; trackMb?: number } = {},
): Promise<{ herd: HerdProcess; smi: FakeNvidiaSmi }> {
  const smi = await createFakeNvidiaSmi({
    gpus: [fakeGpu(0, 8000, usedMb)],
    ...(options.trackMb ? { track: { cmdlineIncludes: dir, usedMemoryMb: options.trackMb } } : {}),
  })
  smis.push(smi)
  const herd = await startHerd({
    cookbook: { models: options.models ?? [profile('m')] },
    env: smi.env,
    ...(options.home ? { home: options.home } : {}),
    config: {
      node: { name },
      resources: { nvidia_smi: smi.path, sample_interval_ms: 200, ...(options.maxVramMb ? { max_vram_mb: options.maxVramMb } : {}) },
      mesh: loopbackMesh(join(dir, 'cluster.key'), options.peers ?? []),
    },
  })
  running.push(herd)
  return { herd, smi }
}

async function nodes(h: HerdProcess): Promise<NodeView[]> {
  return ((await (await fetch(`${h.url}/cluster/nodes`)).json()) as { nodes: NodeView[] }).nodes
}
const self = async (h: HerdProcess): Promise<NodeView> => (await nodes(h)).find((n) => n.self)!
const selfModel = async (h: HerdProcess, id = 'm:default'): Promise<ModelView> => (await self(h)).models.find((m) => m.id === id)!

function chat(h: HerdProcess, modelName = 'm'): Promise<Response> {
  return fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: modelName, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
  })
}

async function pair(xUsedMb: number): Promise<{ x: HerdProcess; y: HerdProcess; xSmi: FakeNvidiaSmi }> {
  const { herd: y } = await gpuNode('y', 0)
  const yAddr = (await self(y)).addrs[0]!
  const { herd: x, smi: xSmi } = await gpuNode('x', xUsedMb, { peers: [yAddr] })
  await waitFor(
    'x and y to see each other fresh',
    async () => (await nodes(x)).filter((n) => n.fresh).length === 2 && (await nodes(y)).filter((n) => n.fresh).length === 2,
  )
  return { x, y, xSmi }
}

describe('placement by free VRAM', () => {
  it('sends a cold request from a node whose GPU is full to the node with room', async () => {
    const { x } = await pair(7950)
    await waitFor('x to know the model does not fit there', async () => !(await selfModel(x)).canFitNow)
    const res = await chat(x)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-node')).toBe('y')
  })

  it('follows external VRAM use: capacity shrinks and routing moves to the peer', async () => {
    const { x, xSmi } = await pair(0)
    const first = await chat(x)
    expect(first.headers.get('x-herd-node')).toBe('x')
    await fetch(`${x.url}/admin/unload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    const before = (await self(x)).resources.gpus[0]!.freeMb
    await xSmi.setState({ gpus: [fakeGpu(0, 8000, 7950)] })
    await waitFor('x to see its GPU almost full', async () => (await self(x)).resources.gpus[0]!.freeMb < before - 7000)
    await waitFor('x to gossip that the model no longer fits', async () => !(await selfModel(x)).canFitNow)
    const res = await chat(x)
    expect(res.headers.get('x-herd-node')).toBe('y')
  })

  it('evicts the least recently used idle instance to make room', async () => {
    const models = [profile('a'), profile('b', '--seed 1'), profile('c', '--seed 2')]
    // Learn what one instance needs here, then allow room for two and a half.
    const probe = await gpuNode('probe', 0, { models })
    const need = (await selfModel(probe.herd, 'a:default')).estimatedVramMb!
    expect(need).toBeGreaterThan(0)
    await probe.herd.dispose()
    running.splice(running.indexOf(probe.herd), 1)

    const { herd } = await gpuNode('solo', 0, { models, maxVramMb: Math.floor(need * 2.5) })
    const loaded = async () =>
      ((await (await fetch(`${herd.url}/admin/instances`)).json()) as { instances: { profileId: string }[] }).instances.map((i) => i.profileId).sort()
    expect((await chat(herd, 'a')).status).toBe(200)
    expect((await chat(herd, 'b')).status).toBe(200)
    expect((await chat(herd, 'a')).status).toBe(200) // b is now the least recently used
    expect(await loaded()).toEqual(['a:default', 'b:default'])
    expect((await chat(herd, 'c')).status).toBe(200)
    expect(await loaded()).toEqual(['a:default', 'c:default'])
  })

  it('starts one cold instance at a time when requests for several cold models arrive at once on a GPU with room for one', async () => {
    const models = [profile('a'), profile('b', '--seed 1'), profile('c', '--seed 2')]
    const probe = await gpuNode('probe', 0, { models })
    const need = (await selfModel(probe.herd, 'a:default')).estimatedVramMb!
    expect(need).toBeGreaterThan(0)
    await probe.herd.dispose()
    running.splice(running.indexOf(probe.herd), 1)

    // 8000 MiB, a 400 MiB margin, other processes leave room for one and a half instances.
    const otherMb = 8000 - 400 - Math.floor(need * 1.5)
    const { herd } = await gpuNode('one-at-a-time', otherMb, { models, trackMb: need })
    let mostLive = 0
    let mostUsedMb = 0
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const list = ((await (await fetch(`${herd.url}/admin/instances`)).json()) as { instances: { pid?: number; state: { status: string } }[] }).instances
        mostLive = Math.max(mostLive, list.filter((i) => i.pid !== undefined && i.state.status !== 'exited').length)
        const gpu = (await self(herd)).resources.gpus[0]
        if (gpu) mostUsedMb = Math.max(mostUsedMb, gpu.totalMb - gpu.freeMb)
      }
    })()
    try {
      const answers = await Promise.all(['a', 'b', 'c'].map((m) => chat(herd, m)))
      const bodies = await Promise.all(answers.map((r) => r.text()))
      expect(
        answers.map((r) => r.status),
        `answers: ${bodies.join(' | ')}`,
      ).toEqual([200, 200, 200])
    } finally {
      watching = false
      await watcher
    }
    // Every sample: at most one llama-server alive, and the driver never saw two.
    expect(mostLive).toBe(1)
    expect(mostUsedMb).toBeLessThanOrEqual(otherMb + need)
  })

  it('answers 503 no_capacity within a second, with Retry-After, when other processes fill every node', async () => {
    const { herd: y } = await gpuNode('y', 7950)
    const yAddr = (await self(y)).addrs[0]!
    const { herd: x } = await gpuNode('x', 7950, { peers: [yAddr] })
    await waitFor('x to know that neither node has room, nor will have by waiting', async () => {
      const all = await nodes(x)
      return all.length === 2 && all.every((n) => n.fresh && n.models.every((m) => !m.canFitNow && !m.canFitAfterEviction))
    })
    const started = performance.now()
    const res = await chat(x)
    const elapsed = performance.now() - started
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBeTruthy()
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('no_capacity')
    expect(body.error.message).toContain('other processes')
    expect(elapsed).toBeLessThan(1_000)
  })

  it('answers 503 no_capacity when nothing can make room', async () => {
    const { herd } = await gpuNode('small', 0, { maxVramMb: 100 })
    const res = await chat(herd)
    expect(res.status).toBe(503)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('no_capacity')
    expect(body.error.message).toContain('m:default')
    expect(((await (await fetch(`${herd.url}/admin/instances`)).json()) as { instances: unknown[] }).instances).toHaveLength(0)
  })
})

describe('learned memory', () => {
  it('is measured after a load, persisted in state.json, and used after a restart', async () => {
    const home = await mkdtemp(join(tmpdir(), 'herd-learned-'))
    try {
      const cookbook = { models: [profile('m')] }
      const config = { resources: { nvidia_smi: join(home, 'no-such-smi'), sample_interval_ms: 200 } }
      const first = await startHerd({ home, cookbook, config })
      running.push(first)
      expect((await chat(first)).status).toBe(200)
      const learned = await waitFor(
        'state.json to hold a learned entry',
        async () => {
          const state = JSON.parse(await readFile(join(home, 'state.json'), 'utf8')) as {
            learnedMemory?: Record<string, { rssMb: number; profileId?: string }>
          }
          return Object.values(state.learnedMemory ?? {}).find((e) => e.profileId === 'm:default')
        },
        { timeoutMs: 15_000 },
      )
      expect(learned.rssMb).toBeGreaterThan(0)
      await first.dispose()
      running.splice(running.indexOf(first), 1)

      const second = await startHerd({ home, cookbook, config })
      running.push(second)
      await waitFor('the restarted node to plan with the learned figure', async () => (await selfModel(second)).estimatedSysmemMb === learned.rssMb)
    } finally {
      await rm(home, { recursive: true, force: true })
    }
  })
})
