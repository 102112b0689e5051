/**
 * `llama.port_base` and `max_request_duration_ms` through a real daemon and the real
 * llama-server: the config reaches the supervisor and the router, and a request cut by its
 * limit really stops llama-server generating.
 */
import { mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { ensureLlamaServer } from '../helpers/llama-server.ts'
import { waitFor } from '../helpers/poll.ts'

interface Instance {
  id: string
  profileId: string
  port: number
  busy: number
  state: { status: string }
}

let h: HerdProcess
let base: number

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** Three free ports in a row below the kernel's ephemeral range. */
async function freeRun(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const b = 20_000 + Math.floor(Math.random() * 10_000)
    if ((await canBind(b)) && (await canBind(b + 1)) && (await canBind(b + 2))) return b
  }
  throw new Error('no run of free ports found')
}

async function instances(): Promise<Instance[]> {
  return ((await (await fetch(`${h.url}/admin/instances`)).json()) as { instances: Instance[] }).instances
}

const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** Thousands of tokens, EOS ignored: well past a 500 ms limit even at full speed. */
const LONG = { messages: [{ role: 'user', content: 'go' }], max_tokens: 7000, ignore_eos: true }

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'herd-e2e-model-'))
  const model = (await writeTinyGguf(join(dir, 'tiny.gguf'), { contextLength: 8192 })).path
  base = await freeRun()
  const profile = { model_path: model, llama_server_args: '-c 8192 -np 1 -t 1' }
  h = await startHerd({
    cookbook: {
      models: [
        {
          name: 'tiny',
          profiles: [
            { id: 'default', ...profile },
            { id: 'limited', ...profile, max_request_duration_ms: 500 },
          ],
        },
      ],
    },
    config: { llama: { server: await ensureLlamaServer(), port_base: base } },
  })
})

afterAll(async () => {
  await h?.dispose()
})

describe('limits with a real daemon and llama-server', () => {
  it('starts children on llama.port_base and the next port up', async () => {
    expect((await post('/admin/prewarm', { model: 'tiny:default' })).status).toBe(200)
    expect((await post('/admin/prewarm', { model: 'tiny:limited' })).status).toBe(200)
    const ports = Object.fromEntries((await instances()).map((i) => [i.profileId, i.port]))
    expect(ports).toEqual({ 'tiny:default': base, 'tiny:limited': base + 1 })
  })

  it('cuts a request past max_request_duration_ms: 504 before the head, an SSE error event after it, and llama-server stops', async () => {
    const limited = (await instances()).find((i) => i.profileId === 'tiny:limited')
    // llama-server checks a non-streaming request's connection after a second with no task
    // results at all, and a `/slots` call is a task: poll slower than that, or it never looks.
    const stopped = (): Promise<true> =>
      waitFor(
        'the slot to be free in herd and in llama-server',
        async () => {
          if ((await instances()).some((i) => i.busy > 0)) return false
          const slots = (await (await fetch(`http://127.0.0.1:${limited?.port}/slots`)).json()) as { is_processing: boolean }[]
          return slots.every((s) => !s.is_processing)
        },
        { intervalMs: 1_500, timeoutMs: 6_000 },
      )

    const t0 = performance.now()
    const plain = await post('/v1/chat/completions', { model: 'tiny:limited', ...LONG })
    expect(plain.status).toBe(504)
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('upstream_timeout')
    expect(performance.now() - t0).toBeLessThan(5_000)
    await stopped()

    const streamed = await post('/v1/chat/completions', { model: 'tiny:limited', ...LONG, stream: true })
    expect(streamed.status).toBe(200)
    const events = (await streamed.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice(6))
    expect(events.length).toBeGreaterThan(1)
    expect(events).not.toContain('[DONE]')
    expect((JSON.parse(events.at(-1) ?? '{}') as { error?: { code?: string } }).error?.code).toBe('upstream_timeout')
    await stopped()
    // Stopped by the abort, not by running out of tokens: llama-server says it cancelled both.
    const { logs } = (await (await fetch(`${h.url}/admin/logs?instance=${encodeURIComponent(limited?.id ?? '')}`)).json()) as { logs: { lines: string[] }[] }
    expect(logs[0]?.lines.filter((l) => l.includes('cancel task'))).toHaveLength(2)
  })
})
