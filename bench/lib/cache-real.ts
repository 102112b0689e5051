/**
 * bench:cache --real: the same three paths on a real herd process and a real llama-server
 * with the tiny test model (random weights, greedy, 8 tokens), semantic cache on an
 * embedding profile of the same file: a request with the cache off (`x-herd-cache: off`:
 * generation only), a miss (exact lookup, embedding through the mesh, scan, generation,
 * recording) and an exact hit. The embedding cost is read from herd's own histogram.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeTinyGguf } from '../../test/fixtures/tiny-gguf.ts'
import { startHerd } from '../../test/helpers/herd-process.ts'
import { percentile } from './stats.ts'

export interface RealResult {
  requests: number
  p50: { off: number; miss: number; hit: number }
  embedMsMean: number
  embeddings: number
}

export async function benchReal(requests: number): Promise<RealResult> {
  const home = await mkdtemp(join(tmpdir(), 'herd-bench-cache-'))
  await writeTinyGguf(join(home, 'tiny.gguf'))
  const herd = await startHerd({
    home,
    cookbook: {
      default_model: 'tiny',
      models: [
        { name: 'tiny', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 1024 --parallel 2 -t 1' }] },
        { name: 'tiny-embed', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 512 --embedding --pooling mean -t 1' }] },
      ],
    },
    // Threshold 1: the tiny model's random-weight embeddings put many prompts within 0.99999 of each other; every new prompt must miss.
    config: { log_level: 'warn', cache: { enabled: true, semantic: { embedding_model: 'tiny-embed', threshold: 1, timeout_ms: 20_000 } } },
  })
  try {
    const ask = async (content: string, mode?: string): Promise<{ ms: number; state: string | null }> => {
      const started = performance.now()
      const res = await fetch(`${herd.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(mode === undefined ? {} : { 'x-herd-cache': mode }) },
        body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content }], max_tokens: 8, temperature: 0 }),
      })
      await res.text()
      return { ms: performance.now() - started, state: res.headers.get('x-herd-cache') }
    }
    const histogram = async (): Promise<[number, number]> => {
      const text = await (await fetch(`${herd.url}/metrics`)).text()
      const read = (name: string): number =>
        Number(
          text
            .split('\n')
            .find((l) => l.startsWith(name))
            ?.split(' ')
            .at(-1) ?? 0,
        )
      return [read('herd_cache_embedding_seconds_sum'), read('herd_cache_embedding_seconds_count')]
    }
    // Both models loaded before anything is measured.
    await ask('warm up')
    const [sum0, count0] = await histogram()
    const times = { off: [] as number[], miss: [] as number[], hit: [] as number[] }
    for (let i = 0; i < requests; i++) {
      const q = `question number ${i} about llamas`
      times.off.push((await ask(`${q}?`, 'off')).ms)
      for (const r of [await ask(q), await ask(q)]) if (r.state === 'miss' || r.state === 'hit') times[r.state].push(r.ms)
    }
    const [sum1, count1] = await histogram()
    const p50 = (a: number[]): number => percentile(Float64Array.from(a).sort(), 50)
    return {
      requests,
      p50: { off: p50(times.off), miss: p50(times.miss), hit: p50(times.hit) },
      embedMsMean: ((sum1 - sum0) / Math.max(1, count1 - count0)) * 1000,
      embeddings: count1 - count0,
    }
  } finally {
    await herd.dispose()
    await rm(home, { recursive: true, force: true })
  }
}
