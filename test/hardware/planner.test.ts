import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { CapacityPlanner, LearnedMemory, type CpuFeatures, type HardwareSnapshot, type HeldInstance } from '../../src/hardware/index.ts'
import { GPU_PROCESS_VRAM_MB, PROCESS_SYSMEM_MB } from '../../src/hardware/requirement.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { captureLogger } from './logger.ts'
import { writeTinyLlama } from './tiny-llama.ts'

const profile = (modelPath: string, args: string[], launchHash = 'hash-1'): ProfileSpec => ({
  id: 'tiny:default',
  model: 'tiny',
  profile: 'default',
  description: undefined,
  modelPath,
  args,
  capabilities: { completion: true, embeddings: false, rerank: false },
  idleTimeoutMs: 1000,
  startupTimeoutMs: 1000,
  maxInstances: 1,
  maxQueueSize: 1,
  maxWaitInQueueMs: 1000,
  estimatedVramMb: 50_000,
  estimatedSysmemMb: 50_000,
  launchHash,
})
const cpuSnapshot: HardwareSnapshot = { gpus: [], sysmem: { totalMb: 16_000, freeMb: 8_000 }, processes: new Map(), gpuTelemetry: false, sampledAt: 1 }
const gpuSnapshot: HardwareSnapshot = {
  ...cpuSnapshot,
  gpus: [{ index: 0, uuid: 'GPU-0', name: 'RTX', totalMb: 24_000, usedMb: 1_000, freeMb: 23_000 }],
  gpuTelemetry: true,
}

describe('CapacityPlanner', () => {
  let dir: string
  let model: string
  let fitScript: string
  const learnedStores: LearnedMemory[] = []
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-planner-'))
    model = (await writeTinyGguf(join(dir, 'tiny.gguf'), { contextLength: 4096 })).path
    // A stand-in llama-fit-params that logs its arguments and prints a fixed projection.
    fitScript = join(dir, 'llama-fit-params')
    await writeFile(fitScript, `#!/bin/sh\necho "$@" >> ${join(dir, 'fit-calls')}\necho "CUDA0 700 100 50"\necho "Host 20 0 5"\n`)
    await chmod(fitScript, 0o755)
  })
  afterEach(async () => {
    for (const s of learnedStores.splice(0)) await s.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const planner = (snapshot: HardwareSnapshot, o: { held?: HeldInstance[]; fit?: boolean; learned?: LearnedMemory; cpu?: CpuFeatures } = {}): CapacityPlanner =>
    new CapacityPlanner(
      {
        logger: captureLogger().logger,
        hardware: { snapshot: () => snapshot },
        learned: o.learned,
        held: () => o.held ?? [],
        fitParamsPath: () => (o.fit === false ? null : fitScript),
        cpuFeatures: () => o.cpu,
      },
      { maxVramMb: null, maxSysmemMb: null },
    )

  it('asks llama-fit-params once per launch, with the profile’s model and args', async () => {
    const p = planner(gpuSnapshot)
    const a = await p.requirement(profile(model, ['-c', '1024', '--jinja']))
    await p.requirement(profile(model, ['-c', '1024', '--jinja']))
    expect(a).toMatchObject({ vramSource: 'fit-params', sysmemSource: 'fit-params' })
    // 700 + 100 + the estimate's smaller compute (3 MiB; fit-params said 50) + the CUDA context.
    expect(a.vramMb).toBe(700 + 100 + 3 + GPU_PROCESS_VRAM_MB)
    const calls = (await readFile(join(dir, 'fit-calls'), 'utf8')).trim().split('\n')
    expect(calls).toEqual([`-m ${model} -c 1024 -np 4 --fit-print on`])
  })

  it('uses the GGUF estimate when there is no llama-fit-params', async () => {
    const r = await planner(cpuSnapshot, { fit: false }).requirement(profile(model, ['-c', '1024', '-np', '1']))
    expect(r.sysmemSource).toBe('estimate')
    expect(r.sysmemMb).toBe(PROCESS_SYSMEM_MB + 3)
  })

  it('counts the AMX copies of the weights on a CPU-only node with AMX, and not on a GPU node', async () => {
    // Q8_0, 1024 wide: AMX tiles take 38 bytes a block where the file has 34, and the tied
    // output (288 rows) gets a copy of its own: 38.65 MiB of weights where the file has 34.32.
    const q8 = join(dir, 'q8.gguf')
    await writeTinyLlama(q8, { embd: 1024, layers: 2, heads: 8, ff: 4096, matrixType: 8, extraTokens: 25 })
    const amx: CpuFeatures = { amx: true, avx2: true, avx512: true, armDotprod: false }
    const args = ['-c', '256', '-np', '1']
    const plain = await planner(cpuSnapshot, { fit: false }).requirement(profile(q8, args))
    const withAmx = await planner(cpuSnapshot, { fit: false, cpu: amx }).requirement(profile(q8, args))
    expect(withAmx.sysmemMb - plain.sysmemMb).toBe(4)
    const gpu = await planner(gpuSnapshot, { fit: false, cpu: amx }).requirement(profile(q8, [...args, '-ngl', '0']))
    expect(gpu.sysmemMb).toBe((await planner(gpuSnapshot, { fit: false }).requirement(profile(q8, [...args, '-ngl', '0']))).sysmemMb)
  })

  it('prefers learned memory for the same launch hash', async () => {
    const learned = new LearnedMemory({ logger: captureLogger().logger }, { home: dir })
    learnedStores.push(learned)
    await learned.start()
    learned.record('hash-1', { vramMb: 1234, rssMb: 321 })
    expect(await planner(gpuSnapshot, { learned }).requirement(profile(model, []))).toMatchObject({ vramMb: 1234, sysmemMb: 321, vramSource: 'learned' })
  })

  it('falls back to the cookbook for a model file it cannot read', async () => {
    const r = await planner(cpuSnapshot, { fit: false }).requirement(profile(join(dir, 'missing.gguf'), []))
    expect(r).toMatchObject({ sysmemMb: 100_000, sysmemSource: 'cookbook' })
  })

  it('plans with the live snapshot and what herd holds', async () => {
    const held: HeldInstance[] = [{ instanceId: 'old', gpus: [0], vramMb: 22_000, sysmemMb: 100, idle: true, lastUsedAt: 1 }]
    const full = { ...gpuSnapshot, gpus: [{ ...gpuSnapshot.gpus[0]!, usedMb: 23_500, freeMb: 500 }] }
    const plan = await planner(full, { held }).plan(profile(model, ['-c', '1024']))
    expect(plan).toMatchObject({ fit: 'after-eviction', evict: ['old'], placement: { gpus: [0], env: { CUDA_VISIBLE_DEVICES: '0' } } })
    expect(planner(full, { held }).state()).toMatchObject({ vramBudgetFreeMb: 0, sysmemBudgetFreeMb: 8_000 - 512 })
  })
})
