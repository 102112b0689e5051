import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { NvidiaSmi, parseAppsCsv, parseGpuCsv } from '../../src/hardware/index.ts'
import { createFakeNvidiaSmi, fakeGpu, type FakeNvidiaSmi } from '../fixtures/fake-nvidia-smi.ts'
import { captureLogger } from './logger.ts'

describe('parseGpuCsv', () => {
  it('reads the fields of every GPU line', () => {
    const text = '0, GPU-aaaa, NVIDIA GeForce RTX 4090, 24564, 1203, 7\n1, GPU-bbbb, NVIDIA A100-SXM4-80GB, 81920, 0, 0\n'
    expect(parseGpuCsv(text)).toEqual([
      { index: 0, uuid: 'GPU-aaaa', name: 'NVIDIA GeForce RTX 4090', totalMb: 24564, usedMb: 1203, freeMb: 23361, utilization: 7 },
      { index: 1, uuid: 'GPU-bbbb', name: 'NVIDIA A100-SXM4-80GB', totalMb: 81920, usedMb: 0, freeMb: 81920, utilization: 0 },
    ])
  })

  it('takes [N/A] and [Not Supported] utilization as unknown', () => {
    const [a, b] = parseGpuCsv('0, GPU-a, Tesla T4, 15360, 100, [N/A]\n1, GPU-b, Tesla T4, 15360, 100, [Not Supported]')
    expect(a?.utilization).toBeNull()
    expect(b?.utilization).toBeNull()
  })

  it('counts a GPU whose used memory is unknown as full, and skips one with unknown total', () => {
    expect(parseGpuCsv('0, GPU-a, Jetson, 8192, [N/A], 0\n1, GPU-b, Odd, [N/A], 5, 0')).toEqual([
      { index: 0, uuid: 'GPU-a', name: 'Jetson', totalMb: 8192, usedMb: 8192, freeMb: 0, utilization: 0 },
    ])
  })

  it('ignores blank lines, Windows line ends and junk, and keeps commas inside names', () => {
    const text = '\r\n0, GPU-a, NVIDIA RTX A6000, Ada, 49140, 40, 1\r\n\r\nNo devices were found\n'
    expect(parseGpuCsv(text)).toEqual([{ index: 0, uuid: 'GPU-a', name: 'NVIDIA RTX A6000, Ada', totalMb: 49140, usedMb: 40, freeMb: 49100, utilization: 1 }])
  })
})

describe('parseAppsCsv', () => {
  it('reads pid and VRAM, summing a pid seen on several GPUs and skipping [N/A]', () => {
    const apps = parseAppsCsv('1234, 500\n1234, 300\n99, [N/A]\n\n42, 10\n')
    expect([...apps]).toEqual([
      [1234, 800],
      [42, 10],
    ])
  })

  it('reads an empty answer as no processes', () => {
    expect(parseAppsCsv('').size).toBe(0)
  })
})

describe('NvidiaSmi against the fake nvidia-smi', () => {
  let fake: FakeNvidiaSmi | undefined
  afterEach(async () => {
    await fake?.cleanup()
    fake = undefined
  })

  it('samples two GPUs and their compute processes', async () => {
    fake = await createFakeNvidiaSmi({ gpus: [fakeGpu(0, 24564, 24000), fakeGpu(1, 24564, 600)], apps: [{ pid: 4242, usedMemoryMb: 23000 }] })
    const smi = new NvidiaSmi({ logger: captureLogger().logger }, { path: fake.path })
    const s = await smi.sample()
    expect(s?.gpus.map((g) => [g.index, g.freeMb])).toEqual([
      [0, 564],
      [1, 23964],
    ])
    expect(s?.apps.get(4242)).toBe(23000)
  })

  it('reports no GPUs and warns once while the driver fails, then recovers', async () => {
    fake = await createFakeNvidiaSmi({ gpus: [], fail: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." })
    const log = captureLogger()
    const smi = new NvidiaSmi({ logger: log.logger }, { path: fake.path })
    expect(await smi.sample()).toBeNull()
    expect(await smi.sample()).toBeNull()
    expect(log.warnings()).toEqual(['nvidia-smi failed: reporting no GPUs until it answers'])
    await fake.setState({ gpus: [fakeGpu(0, 8192, 0)] })
    expect((await smi.sample())?.gpus).toHaveLength(1)
  })

  it('warns about output it cannot read instead of inventing GPUs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herd-garbage-smi-'))
    try {
      const path = join(dir, 'nvidia-smi')
      await writeFile(path, '#!/bin/sh\necho "something, else"\n')
      await chmod(path, 0o755)
      const log = captureLogger()
      expect(await new NvidiaSmi({ logger: log.logger }, { path }).sample()).toBeNull()
      expect(log.warnings()).toHaveLength(1)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('treats a missing binary as a CPU-only node without a warning', async () => {
    const log = captureLogger()
    const smi = new NvidiaSmi({ logger: log.logger }, { path: '/nonexistent/nvidia-smi' })
    expect(await smi.sample()).toBeNull()
    expect(smi.absent).toBe(true)
    expect(log.warnings()).toEqual([])
  })
})
