/**
 * Lifecycle end to end with the real llama-server: idle eviction, a llama-server killed
 * mid-request, SIGTERM drain, and a SIGKILLed daemon leaving no llama-server behind.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { isAlive, waitFor } from '../helpers/poll.ts'

let model: string
const running: HerdProcess[] = []

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'herd-e2e-model-'))
  model = (await writeTinyGguf(join(dir, 'tiny.gguf'), { contextLength: 8192 })).path
})

afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.dispose()))
})

async function herdWith(profile: Record<string, unknown>, config?: Record<string, unknown>): Promise<HerdProcess> {
  const h = await startHerd({
    cookbook: { default_model: 'tiny', models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: model, ...profile }] }] },
    ...(config ? { config } : {}),
  })
  running.push(h)
  return h
}

interface Instance {
  id: string
  pid?: number
  port: number
  busy: number
  state: { status: string }
}

async function instances(h: HerdProcess): Promise<Instance[]> {
  return ((await (await fetch(`${h.url}/admin/instances`)).json()) as { instances: Instance[] }).instances
}

function chat(h: HerdProcess, body: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'go' }], ...body }),
    ...(signal ? { signal } : {}),
  })
}

/** A request that keeps the tiny model busy for a while: thousands of tokens, EOS ignored. */
const LONG = { max_tokens: 7000, ignore_eos: true }

describe('instance lifecycle with a real llama-server', () => {
  it('prewarms on request, lists the instance with its logs, and unloads it', async () => {
    const h = await herdWith({ llama_server_args: '-c 512 -t 1' })
    const post = (path: string, body: unknown) =>
      fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const warmed = await post('/admin/prewarm', { model: 'tiny' })
    expect(await warmed.json()).toEqual({ model: 'tiny:default', status: 'ready' })
    const [instance] = await instances(h)
    expect(instance?.state.status).toBe('ready')
    const { logs } = (await (await fetch(`${h.url}/admin/logs`)).json()) as { logs: { instanceId: string; lines: string[] }[] }
    expect(logs.find((l) => l.instanceId === instance?.id)?.lines.join('\n')).toContain('listening')
    expect((await post('/admin/prewarm', { model: 'nope' })).status).toBe(404)
    expect(await (await post('/admin/unload', { model: 'tiny' })).json()).toEqual({ model: 'tiny:default', stopped: 1 })
    await waitFor('the instance to be gone', async () => (await instances(h)).length === 0)
  })

  it('evicts an idle instance after its idle timeout', async () => {
    const h = await herdWith({ llama_server_args: '-c 512 -t 1', idle_timeout_seconds: 1 })
    expect((await chat(h, { max_tokens: 4 })).status).toBe(200)
    const pid = (await instances(h))[0]?.pid
    expect(pid).toBeTypeOf('number')
    await waitFor('the idle instance to be evicted', async () => (await instances(h)).length === 0, { timeoutMs: 10_000 })
    await waitFor('its process to exit', () => !isAlive(pid!))
  })

  it('answers 502 when llama-server is killed mid-request, then recovers with a fresh instance', async () => {
    const h = await herdWith({ llama_server_args: '-c 8192 -t 1' })
    const pending = chat(h, LONG)
    const busy = await waitFor('the request to occupy a slot', async () => (await instances(h)).find((i) => i.busy > 0 && i.pid))
    process.kill(busy.pid!, 'SIGKILL')
    const res = await pending
    expect(res.status).toBe(502)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_error')
    const again = await chat(h, { max_tokens: 4 })
    expect(again.status, `${await again.clone().text()}\n${h.output()}`).toBe(200)
    const now = await instances(h)
    expect(now).toHaveLength(1)
    expect(now[0]?.pid).not.toBe(busy.pid)
  })

  it('ends a stream with an SSE error event when llama-server dies mid-stream', async () => {
    const h = await herdWith({ llama_server_args: '-c 8192 -t 1' })
    const res = await chat(h, { ...LONG, stream: true })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    let text = Buffer.from((await reader.read()).value ?? []).toString()
    const busy = await waitFor('the stream to occupy a slot', async () => (await instances(h)).find((i) => i.busy > 0 && i.pid))
    process.kill(busy.pid!, 'SIGKILL')
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString()
    }
    const last = text.trimEnd().split('\n\n').at(-1) ?? ''
    expect(last.startsWith('data: ')).toBe(true)
    expect((JSON.parse(last.slice(6)) as { error: { code: string } }).error.code).toBe('upstream_error')
    expect(text).not.toContain('[DONE]')
  })

  it('aborts the upstream generation when the client disconnects, freeing the slot', async () => {
    const h = await herdWith({ llama_server_args: '-c 8192 -t 1' })
    const controller = new AbortController()
    const res = await chat(h, { ...LONG, stream: true }, controller.signal)
    const reader = res.body!.getReader()
    await reader.read()
    controller.abort()
    const [instance] = await instances(h)
    await waitFor('the slot to be free again', async () => (await instances(h)).every((i) => i.busy === 0), { timeoutMs: 5_000 })
    // llama-server itself must have stopped generating, not just herd's bookkeeping.
    await waitFor(
      'llama-server to stop generating',
      async () => {
        const slots = (await (await fetch(`http://127.0.0.1:${instance!.port}/slots`)).json()) as { is_processing: boolean }[]
        return slots.every((s) => !s.is_processing)
      },
      { timeoutMs: 5_000 },
    )
  })

  it('drains on SIGTERM: readiness drops, new requests get 503, the in-flight one finishes, no child survives', async () => {
    // A generous grace: on a busy machine the in-flight answer must still finish inside it.
    const h = await herdWith({ llama_server_args: '-c 8192 -t 1' }, { http: { drain_timeout_ms: 60_000 } })
    const inFlight = chat(h, { max_tokens: 2000, ignore_eos: true })
    const busy = await waitFor('the request to occupy a slot', async () => (await instances(h)).find((i) => i.busy > 0 && i.pid))
    h.child.kill('SIGTERM')
    await waitFor('/readyz to turn 503', async () => (await fetch(`${h.url}/readyz`)).status === 503, { timeoutMs: 5_000 })
    const refused = await chat(h, { max_tokens: 2 })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('draining')
    const finished = await inFlight
    expect(finished.status).toBe(200)
    const body = (await finished.json()) as { usage: { completion_tokens: number } }
    expect(body.usage.completion_tokens).toBe(2000)
    expect(await h.waitExit()).toBe(0)
    await waitFor('llama-server to exit', () => !isAlive(busy.pid!))
  })

  it('leaves no llama-server behind when the daemon is SIGKILLed', async () => {
    const h = await herdWith({ llama_server_args: '-c 512 -t 1' })
    expect((await chat(h, { max_tokens: 2 })).status).toBe(200)
    const pid = (await instances(h))[0]?.pid
    expect(pid).toBeTypeOf('number')
    await h.stop('SIGKILL')
    await waitFor('the orphaned llama-server to die', () => !isAlive(pid!), { timeoutMs: 5_000 })
  })
})
