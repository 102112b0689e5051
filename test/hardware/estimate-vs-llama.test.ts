/**
 * The estimate against what a real llama-server allocates: for tiny models at several
 * context sizes and slot counts, start the server at `-lv 4`, read each `NAME model buffer
 * size` line (CPU_Mapped, and AMX or CPU_REPACK where this CPU has them), the `KV buffer
 * size` and `compute buffer size` lines (MiB, two decimals) and compare like with like
 * (the server is stopped once they are printed: loadLog in llama-log.ts says why).
 * The estimate is made for this machine's CPU as herd reads it (/proc/cpuinfo); the test
 * checks that the server's build has the same features, and names them in its title. The
 * `-nr` cases show the same models as a CPU without extra buffer types loads them. Also
 * checks llama-fit-params' projection (whole MiB, rounded down) against the same logs.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  describeCpuFeatures,
  estimateMemory,
  fitParams,
  NO_CPU_FEATURES,
  nodeEstimateOptions,
  parseLaunchArgs,
  readCpuFeatures,
  readGgufInfo,
  resolveRequirement,
  type MemoryEstimate,
} from '../../src/hardware/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { ensureLlamaServer } from '../helpers/llama-server.ts'
import { buildCpuFeatures, loadLog, parseLlamaLog, weightBufferPairs, type LoggedMemory } from './llama-log.ts'
import { writeTinyLlama } from './tiny-llama.ts'

const MIB = 1024 * 1024
// The log prints two decimals, so a figure may be off by up to 0.005 MiB before any error of ours.
const PRINT_SLACK = 0.005
const cpu = (await readCpuFeatures()) ?? NO_CPU_FEATURES

const within = (estimate: number, real: number, fraction: number): boolean => Math.abs(estimate - real) <= Math.max(real * fraction, PRINT_SLACK)

const MODELS = {
  'tiny (shared fixture, 64 wide)': (path: string) => writeTinyGguf(path, { contextLength: 4096 }),
  'tiny (shared fixture, 256 wide)': (path: string) => writeTinyGguf(path, { contextLength: 4096, embeddingLength: 256 }),
  'gqa (256 wide, 8/2 heads, 2263 tokens)': (path: string) =>
    writeTinyLlama(path, { embd: 256, layers: 4, heads: 8, headsKv: 2, ff: 512, ctxTrain: 4096, extraTokens: 2000 }),
  // Quantized: AMX repacks Q8_0 with 4 more bytes a block, and takes the tied output (288
  // rows) as a copy of token_embd; IQ4_NL is CPU_REPACK's (AVX2); Q4_0 splits, k/v having
  // 48 rows (CPU_REPACK) where the rest has multiples of 32 (AMX).
  'q8_0 (256 wide, tied output, 288 tokens)': (path: string) =>
    writeTinyLlama(path, { embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 8, extraTokens: 25 }),
  'q4_k (256 wide)': (path: string) => writeTinyLlama(path, { embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 12, extraTokens: 29 }),
  'iq4_nl (256 wide)': (path: string) => writeTinyLlama(path, { embd: 256, heads: 8, headsKv: 2, ff: 512, matrixType: 20, extraTokens: 29 }),
  'q4_0 (192 wide, 48-row k/v, 264 tokens)': (path: string) =>
    writeTinyLlama(path, { embd: 192, heads: 8, headsKv: 2, ff: 384, matrixType: 2, extraTokens: 1 }),
} as const
type ModelName = keyof typeof MODELS
const F16: ModelName[] = ['tiny (shared fixture, 64 wide)', 'tiny (shared fixture, 256 wide)', 'gqa (256 wide, 8/2 heads, 2263 tokens)']
const QUANT: ModelName[] = ['q8_0 (256 wide, tied output, 288 tokens)', 'q4_k (256 wide)', 'iq4_nl (256 wide)', 'q4_0 (192 wide, 48-row k/v, 264 tokens)']
type Case = [ModelName, string[]]
const CASES: Case[] = [
  ...F16.flatMap((m) => [256, 1024, 4096].flatMap((ctx) => [1, 2].map((np): Case => [m, ['-c', String(ctx), '-np', String(np)]]))),
  ...[...F16, ...QUANT].map((m): Case => [m, ['-c', '256', '-np', '1', '-nr']]),
]
// Checked for their weights only: where AMX takes them, a VM that faults AMX tiles crashes
// the server after it printed them (see loadLog); the -nr cases above cover their KV and compute.
const QUANT_CASES: Case[] = QUANT.map((m): Case => [m, ['-c', '256', '-np', '1']])

describe(`memory estimate against a real llama-server (this CPU: ${describeCpuFeatures(cpu)})`, () => {
  let dir: string
  let serverBinary: string
  let fitBinary: string
  const paths = new Map<ModelName, string>()
  // One server start per case serves both comparisons.
  const logged = new Map<string, Promise<LoggedMemory & { signal: string | null }>>()
  const serverLog = (path: string, args: string[]): Promise<LoggedMemory & { signal: string | null }> => {
    const key = `${path} ${args.join(' ')}`
    let p = logged.get(key)
    if (!p) {
      p = loadLog(serverBinary, ['-m', path, ...args, '-lv', '4']).then(({ log, signal }) => ({ ...parseLlamaLog(log), signal }))
      logged.set(key, p)
    }
    return p
  }
  const estimate = async (path: string, args: string[]): Promise<MemoryEstimate> =>
    estimateMemory(await readGgufInfo(path), nodeEstimateOptions(parseLaunchArgs(args), { gpu: false, cpu }))

  beforeAll(async () => {
    serverBinary = await ensureLlamaServer()
    fitBinary = join(dirname(serverBinary), 'llama-fit-params')
    dir = await mkdtemp(join(tmpdir(), 'herd-estimate-real-'))
    let i = 0
    for (const [name, write] of Object.entries(MODELS)) {
      const path = join(dir, `m${i++}.gguf`)
      await write(path)
      paths.set(name as ModelName, path)
    }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reads the same CPU features as the llama-server build reports', async () => {
    const real = await serverLog(paths.get(F16[0]!)!, ['-c', '256', '-np', '1'])
    const features = [...real.cpu]
      .filter(([, v]) => v === '1')
      .map(([k]) => k)
      .join(' ')
    expect(buildCpuFeatures(real.cpu), `the build has ${features}; /proc/cpuinfo says ${describeCpuFeatures(cpu)}`).toEqual(cpu)
  })

  const weightsAsLogged = (e: MemoryEstimate, real: LoggedMemory): void => {
    expect(real.model.size).toBeGreaterThan(0)
    for (const b of weightBufferPairs(e.hostWeightBuffers, real.model)) {
      expect(within(b.estimate, b.real, 0.05), `${b.name} model buffer ${b.estimate} vs ${b.real} MiB`).toBe(true)
    }
    // What the weights keep resident: the extra buffers, and of a mapped span only its own tensors.
    expect(e.weightsBytes).toBe(e.hostWeightBuffers.reduce((a, b) => a + b.residentBytes, 0))
  }

  it.each(QUANT_CASES)('has each weight buffer as logged for %s with %j', async (name, args) => {
    const path = paths.get(name)!
    weightsAsLogged(await estimate(path, args), await serverLog(path, args))
  })

  it.each(CASES)('has each weight buffer as logged, KV within 5 percent and the total within 25 percent for %s with %j', async (name, args) => {
    const path = paths.get(name)!
    const real = await serverLog(path, args)
    const e = await estimate(path, args)
    weightsAsLogged(e, real)
    expect(real.compute, `a compute buffer line (the server ended by ${real.signal})`).toBeGreaterThan(0)
    expect(within(e.kvBytes / MIB, real.kv, 0.05), `kv ${e.kvBytes / MIB} vs ${real.kv}`).toBe(true)
    const logTotal = [...real.model.values()].reduce((a, b) => a + b, 0) + real.kv + real.compute
    const estLogTotal = (e.hostWeightBuffers.reduce((a, b) => a + b.bytes, 0) + e.kvBytes + e.computeBytes) / MIB
    expect(within(estLogTotal, logTotal, 0.25), `total ${estLogTotal} vs ${logTotal}`).toBe(true)
  })

  it.each([...CASES, ...QUANT_CASES])('gets the same host tensors (and KV) from llama-fit-params as the server, for %s with %j', async (name, args) => {
    const path = paths.get(name)!
    const fit = await fitParams(fitBinary, ['-m', path, ...args])
    const real = await serverLog(path, args)
    const e = await estimate(path, args)
    // CPU build: everything is on the host; fit-params rounds down to whole MiB.
    expect(fit.devices).toEqual([])
    // Its Host row counts the tensors left in the plain CPU buffer: the whole file when
    // nothing is repacked, and never the extra buffers (their type is not a host one).
    const cpuBuffer = e.hostWeightBuffers.find((b) => b.name === 'CPU_Mapped')
    expect(fit.host.modelMb).toBe(Math.floor((cpuBuffer?.residentBytes ?? 0) / MIB + PRINT_SLACK))
    if (real.model.size === 1) expect(fit.host.modelMb).toBe(Math.floor((real.model.get('CPU_Mapped') ?? 0) + PRINT_SLACK))
    // What herd plans with fills the gap from the estimate: the extra buffers are in it.
    const extra = [...real.model].filter(([n]) => n !== 'CPU_Mapped').reduce((a, [, mib]) => a + mib, 0)
    expect(resolveRequirement({ fit, estimate: e }, { gpu: false }).sysmemMb).toBeGreaterThanOrEqual(extra + fit.host.contextMb)
    if (QUANT.includes(name) && !args.includes('-nr')) return
    expect(fit.host.contextMb).toBe(Math.floor(real.kv + PRINT_SLACK))
    // It reserves logits for a whole batch where the server keeps one row per slot: never less.
    expect(fit.host.computeMb).toBeGreaterThanOrEqual(Math.floor(real.compute))
  })
})
