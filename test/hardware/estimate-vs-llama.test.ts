/**
 * The estimate against what a real llama-server allocates: for tiny models at several
 * context sizes and slot counts, start the server at `-lv 4`, read the `model buffer size`,
 * `KV buffer size` and `compute buffer size` lines (MiB, two decimals) and compare. Also
 * checks llama-fit-params' projection (whole MiB, rounded down) against the same logs.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { estimateMemory, fitParams, readGgufInfo } from '../../src/hardware/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { ensureLlamaServer, startLlamaServer } from '../helpers/llama-server.ts'
import { waitFor } from '../helpers/poll.ts'
import { writeTinyLlama } from './tiny-llama.ts'

const MIB = 1024 * 1024
// The log prints two decimals, so a figure may be off by up to 0.005 MiB before any error of ours.
const PRINT_SLACK = 0.005

interface Logged {
  model: number
  kv: number
  compute: number
}

/** Sums each kind of buffer over all devices in a llama-server log (MiB). */
function parseBufferSizes(log: string): Logged {
  const sum = (re: RegExp): number => [...log.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0)
  return {
    model: sum(/\bmodel buffer size\s*=\s*([\d.]+) MiB/g),
    kv: sum(/\bKV buffer size\s*=\s*([\d.]+) MiB/g),
    compute: sum(/\bcompute buffer size\s*=\s*([\d.]+) MiB/g),
  }
}

const within = (estimate: number, real: number, fraction: number): boolean => Math.abs(estimate - real) <= Math.max(real * fraction, PRINT_SLACK)

const MODELS = ['tiny (shared fixture, 64 wide)', 'tiny (shared fixture, 256 wide)', 'gqa (256 wide, 8/2 heads, 2263 tokens)'] as const
type ModelName = (typeof MODELS)[number]
const CASES: [ModelName, number, number][] = MODELS.flatMap((m) =>
  [256, 1024, 4096].flatMap((ctx) => [1, 2].map((np): [ModelName, number, number] => [m, ctx, np])),
)

describe('memory estimate against a real llama-server', () => {
  let dir: string
  let fitBinary: string
  const paths = new Map<ModelName, string>()
  // One server start per case serves both comparisons.
  const logged = new Map<string, Promise<Logged>>()
  const serverBuffers = (path: string, ctx: number, np: number): Promise<Logged> => {
    const key = `${path} ${ctx} ${np}`
    let p = logged.get(key)
    if (!p) {
      p = (async () => {
        const server = await startLlamaServer(['-m', path, '-c', String(ctx), '-np', String(np), '-lv', '4'])
        try {
          // /health can answer before the pipe has delivered every earlier log line.
          await waitFor('the compute buffer line in the llama-server log', () => /compute buffer size/.test(server.log()))
          return parseBufferSizes(server.log())
        } finally {
          await server.stop()
        }
      })()
      logged.set(key, p)
    }
    return p
  }

  beforeAll(async () => {
    fitBinary = join(dirname(await ensureLlamaServer()), 'llama-fit-params')
    dir = await mkdtemp(join(tmpdir(), 'herd-estimate-real-'))
    paths.set(MODELS[0], (await writeTinyGguf(join(dir, 'tiny64.gguf'), { contextLength: 4096 })).path)
    paths.set(MODELS[1], (await writeTinyGguf(join(dir, 'tiny256.gguf'), { contextLength: 4096, embeddingLength: 256 })).path)
    await writeTinyLlama(join(dir, 'gqa.gguf'), { embd: 256, layers: 4, heads: 8, headsKv: 2, ff: 512, ctxTrain: 4096, extraTokens: 2000 })
    paths.set(MODELS[2], join(dir, 'gqa.gguf'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it.each(CASES)('has weights and KV within 5 percent and the total within 25 percent for %s at -c %i -np %i', async (name, ctx, np) => {
    const path = paths.get(name)!
    const real = await serverBuffers(path, ctx, np)
    const e = estimateMemory(await readGgufInfo(path), { ctx, parallel: np })
    const est = { model: e.weightsBytes / MIB, kv: e.kvBytes / MIB, compute: e.computeBytes / MIB }
    expect(real.model).toBeGreaterThan(0)
    expect(within(est.model, real.model, 0.05), `weights ${est.model} vs ${real.model}`).toBe(true)
    expect(within(est.kv, real.kv, 0.05), `kv ${est.kv} vs ${real.kv}`).toBe(true)
    const realTotal = real.model + real.kv + real.compute
    expect(within(e.totalBytes / MIB, realTotal, 0.25), `total ${e.totalBytes / MIB} vs ${realTotal}`).toBe(true)
  })

  it.each(CASES)('gets the same model and KV sizes from llama-fit-params as the server logs, for %s at -c %i -np %i', async (name, ctx, np) => {
    const path = paths.get(name)!
    const fit = await fitParams(fitBinary, ['-m', path, '-c', String(ctx), '-np', String(np)])
    const real = await serverBuffers(path, ctx, np)
    // CPU build: everything is on the host; fit-params rounds down to whole MiB.
    expect(fit.devices).toEqual([])
    expect(fit.host.modelMb).toBe(Math.floor(real.model + PRINT_SLACK))
    expect(fit.host.contextMb).toBe(Math.floor(real.kv + PRINT_SLACK))
    // It reserves logits for a whole batch where the server keeps one row per slot: never less.
    expect(fit.host.computeMb).toBeGreaterThanOrEqual(Math.floor(real.compute))
  })
})
