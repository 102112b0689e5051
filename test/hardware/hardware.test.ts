import { once } from 'node:events'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Hardware, LearnedMemory, type HardwareSnapshot } from '../../src/hardware/index.ts'
import { createFakeNvidiaSmi, fakeGpu, type FakeNvidiaSmi } from '../fixtures/fake-nvidia-smi.ts'
import { captureLogger } from './logger.ts'

const meminfo = (totalKb: number, availableKb: number): string =>
  `MemTotal:       ${totalKb} kB\nMemFree:          123456 kB\nMemAvailable:   ${availableKb} kB\nBuffers:          1024 kB\n`
const status = (rssKb: number, hwmKb: number): string => `Name:\tllama-server\nState:\tS (sleeping)\nVmHWM:\t${hwmKb} kB\nVmRSS:\t${rssKb} kB\nThreads:\t9\n`

describe('Hardware', () => {
  let dir: string
  let proc: string
  let fake: FakeNvidiaSmi
  let hw: Hardware | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-hw-'))
    proc = join(dir, 'proc')
    await mkdir(join(proc, '4242'), { recursive: true })
    await writeFile(join(proc, 'meminfo'), meminfo(32 * 1024 * 1024, 20 * 1024 * 1024))
    await writeFile(join(proc, '4242', 'status'), status(900 * 1024, 1500 * 1024))
    fake = await createFakeNvidiaSmi({ gpus: [fakeGpu(0, 24564, 500), fakeGpu(1, 24564, 24000)], apps: [] })
  })
  afterEach(async () => {
    await hw?.stop()
    hw = undefined
    await fake.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  it('has a real snapshot as soon as it started: GPUs, system memory, nothing watched', async () => {
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 60_000 })
    await hw.start()
    await hw.start()
    const s = hw.snapshot()
    expect(s.gpus).toEqual([
      { index: 0, uuid: fakeGpu(0, 0, 0).uuid, name: 'NVIDIA GeForce RTX 4090', totalMb: 24564, usedMb: 500, freeMb: 24064 },
      { index: 1, uuid: fakeGpu(1, 0, 0).uuid, name: 'NVIDIA GeForce RTX 4090', totalMb: 24564, usedMb: 24000, freeMb: 564 },
    ])
    expect(s.sysmem).toEqual({ totalMb: 32 * 1024, freeMb: 20 * 1024 })
    expect(s.processes.size).toBe(0)
    expect(s.gpuTelemetry).toBe(true)
  })

  it('emits resources:changed when another process grabs VRAM', async () => {
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 20 })
    await hw.start()
    await fake.setState({ gpus: [fakeGpu(0, 24564, 20_500), fakeGpu(1, 24564, 24000)], apps: [{ pid: 777, usedMemoryMb: 20_000 }] })
    const [s] = (await once(hw, 'resources:changed', { signal: AbortSignal.timeout(5000) })) as [HardwareSnapshot]
    expect(s.gpus[0]).toMatchObject({ usedMb: 20_500, freeMb: 4064 })
    // Not a herd process: it counts against capacity but is not listed.
    expect(s.processes.size).toBe(0)
  })

  it('stays quiet when nothing moved', async () => {
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 60_000 })
    await hw.start()
    let events = 0
    hw.on('resources:changed', () => events++)
    await hw.sample()
    // A system-memory wobble under the threshold is not a change either.
    await writeFile(join(proc, 'meminfo'), meminfo(32 * 1024 * 1024, 20 * 1024 * 1024 - 10 * 1024))
    await hw.sample()
    expect(events).toBe(0)
  })

  it('measures watched processes and learns their peaks by launch hash', async () => {
    const learned = new LearnedMemory({ logger: captureLogger().logger }, { home: dir, saveDebounceMs: 60_000 })
    await learned.start()
    hw = new Hardware({ logger: captureLogger().logger, learned }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 60_000 })
    await hw.start()
    hw.watchProcess(4242, 'hash-a', 'tiny:default')
    await fake.setState({ gpus: [fakeGpu(0, 24564, 3000), fakeGpu(1, 24564, 24000)], apps: [{ pid: 4242, usedMemoryMb: 2500 }] })
    const s = await hw.sample()
    expect(s.processes.get(4242)).toEqual({ vramMb: 2500, rssMb: 900, hwmMb: 1500 })
    await writeFile(join(proc, '4242', 'status'), status(700 * 1024, 1500 * 1024))
    await fake.setState({ gpus: [fakeGpu(0, 24564, 2000), fakeGpu(1, 24564, 24000)], apps: [{ pid: 4242, usedMemoryMb: 1500 }] })
    await hw.sample()
    expect(learned.get('hash-a')).toMatchObject({ vramMb: 2500, rssMb: 900, profileId: 'tiny:default', samples: 2 })
    hw.unwatchProcess(4242)
    expect((await hw.sample()).processes.size).toBe(0)
    await learned.stop()
  })

  it('drops a watched process that has gone', async () => {
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 60_000 })
    await hw.start()
    hw.watchProcess(9999, 'hash-b')
    expect((await hw.sample()).processes.has(9999)).toBe(false)
  })

  it('is a CPU-only node when nvidia-smi is not installed', async () => {
    const log = captureLogger()
    hw = new Hardware({ logger: log.logger }, { nvidiaSmi: join(dir, 'no-such-smi'), procRoot: proc, sampleIntervalMs: 60_000 })
    await hw.start()
    expect(hw.snapshot()).toMatchObject({ gpus: [], gpuTelemetry: false, sysmem: { totalMb: 32 * 1024 } })
    expect(log.warnings()).toEqual([])
  })

  it('reads the CPU features once at start, unless told what they are', async () => {
    await writeFile(join(proc, 'cpuinfo'), 'processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_tile amx_int8\n')
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 60_000 })
    expect(hw.cpuFeatures()).toBeUndefined()
    await hw.start()
    expect(hw.cpuFeatures()).toEqual({ amx: true, avx2: true, avx512: true, armDotprod: false })
    await hw.stop()
    const told = { amx: false, avx2: true, avx512: false, armDotprod: false }
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 60_000, cpuFeatures: told })
    await hw.start()
    expect(hw.cpuFeatures()).toEqual(told)
  })

  it('stops sampling when stopped, and a second stop is harmless', async () => {
    hw = new Hardware({ logger: captureLogger().logger }, { nvidiaSmi: fake.path, procRoot: proc, sampleIntervalMs: 20 })
    await hw.start()
    await hw.stop()
    await hw.stop()
    const before = hw.snapshot().sampledAt
    await fake.setState({ gpus: [fakeGpu(0, 24564, 10_000)], apps: [] })
    // Had it kept sampling every 20 ms, a round would land in this window.
    const late = await Promise.race([once(hw, 'resources:changed'), new Promise((resolve) => setTimeout(resolve, 200, 'quiet'))])
    expect(late).toBe('quiet')
    expect(hw.snapshot().sampledAt).toBe(before)
  })
})
