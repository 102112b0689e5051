/**
 * Loading status end to end: a real herd process and the real llama-server, started
 * through a wrapper that waits two seconds before it runs the server (the tiny model
 * itself loads in milliseconds, too fast for a comment). A cold streaming request through
 * the official `openai` client still streams (the SDK skips the comment lines), raw SSE
 * shows them, both cold starts are logged, and a profile whose file is missing is
 * reported, listed and refused without Retry-After.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { ensureLlamaServer } from '../helpers/llama-server.ts'
import { waitFor } from '../helpers/poll.ts'

let herd: HerdProcess
let home: string
const profile = (name: string, path = 'tiny.gguf') => ({ name, profiles: [{ id: 'default', model_path: path, llama_server_args: '-c 512 --parallel 1 -t 1' }] })

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'herd-e2e-loading-'))
  await writeTinyGguf(join(home, 'tiny.gguf'))
  const real = await ensureLlamaServer()
  // Only a server start waits (it has --port); `--version` at startup answers at once.
  const slow = join(home, 'slow-llama-server')
  await writeFile(slow, `#!/bin/sh\ncase " $* " in *" --port "*) sleep 2 ;; esac\nexec '${real.replaceAll("'", `'\\''`)}' "$@"\n`)
  await chmod(slow, 0o755)
  herd = await startHerd({
    home,
    cookbook: { models: [profile('tiny-sdk'), profile('tiny-ant'), profile('tiny-raw'), profile('gone', 'not-downloaded-yet.gguf')] },
    config: { llama: { server: slow } },
  })
})

afterAll(async () => {
  await herd?.dispose()
  if (home) await rm(home, { recursive: true, force: true })
})

describe('a cold start on the real llama-server', () => {
  it('streams through the openai client, which skips the loading comments', async () => {
    // The same bytes the SDK parses, read beside it, to see that comments were in them.
    let raw: Promise<string> | undefined
    const client = new OpenAI({
      baseURL: `${herd.url}/v1`,
      apiKey: 'unused',
      maxRetries: 0,
      timeout: 30_000,
      fetch: async (url, init) => {
        const res = await fetch(url, init)
        raw = res.clone().text()
        return res
      },
    })
    const stream = await client.chat.completions.create({ model: 'tiny-sdk', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, stream: true })
    let chunks = 0
    for await (const chunk of stream) {
      chunks++
      expect(chunk.object).toBe('chat.completion.chunk')
    }
    expect(chunks).toBeGreaterThan(0)
    expect(await raw).toMatch(/^: herd: /)
  })

  it('streams through the Anthropic client, which skips them too', async () => {
    const client = new Anthropic({ baseURL: herd.url, apiKey: 'unused', maxRetries: 0, timeout: 30_000 })
    const stream = client.messages.stream({ model: 'tiny-ant', max_tokens: 8, messages: [{ role: 'user', content: 'hello' }] })
    const message = await stream.finalMessage()
    expect(message.type).toBe('message')
    expect(message.role).toBe('assistant')
  })

  it('shows the comment lines in raw SSE before the answer, and logs the start and the ready', async () => {
    const res = await fetch(`${herd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-raw', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, stream: true }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const body = await res.text()
    const first = body.split('\n\n')[0] ?? ''
    expect(first).toMatch(/^: herd: (waiting for|loading) tiny-raw:default on node-\d+ \(\d+\.\d s\)$/)
    expect(body).toMatch(/: herd: loading tiny-raw:default/)
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true)
    const lines = herd.output().split('\n')
    const starting = lines.find((l) => l.includes('"starting llama-server"') && l.includes('tiny-raw:default'))
    expect(starting, herd.output()).toMatch(/"placement":"(cpu|gpu [\d,]+)"/)
    expect(starting).toMatch(/"estimate_sysmem_mb":\d+/)
    const ready = lines.find((l) => l.includes('"llama-server ready"') && l.includes('tiny-raw:default'))
    expect(Number(/"spawnMs":(\d+)/.exec(ready ?? '')?.[1])).toBeGreaterThanOrEqual(2_000)
  })
})

describe('a profile whose model file is missing', () => {
  it('is reported at start with one line naming the path', async () => {
    const path = join(home, 'not-downloaded-yet.gguf')
    await waitFor('the warning', () => herd.output().includes(`model file not found: ${path}`))
    expect(herd.output().split(`model file not found: ${path}`)).toHaveLength(2)
  })

  it('shows missing_file in /v1/models and is refused 503 model_file_missing without Retry-After', async () => {
    const models = (await (await fetch(`${herd.url}/v1/models`)).json()) as { data: { id: string; herd: { status: string } }[] }
    expect(models.data.find((m) => m.id === 'gone:default')?.herd.status).toBe('missing_file')
    expect(models.data.find((m) => m.id === 'tiny-sdk:default')?.herd.status).toBe('ok')
    const res = await fetch(`${herd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gone', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    })
    expect(res.status).toBe(503)
    expect(res.headers.get('x-herd-error')).toBe('model_file_missing')
    expect(res.headers.get('retry-after')).toBeNull()
  })

  it('is picked up once the file appears, without a reload', async () => {
    await writeTinyGguf(join(home, 'not-downloaded-yet.gguf'))
    await waitFor(
      'the file to be seen',
      async () => {
        const models = (await (await fetch(`${herd.url}/v1/models`)).json()) as { data: { id: string; herd: { status: string } }[] }
        return models.data.find((m) => m.id === 'gone:default')?.herd.status === 'ok'
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    )
  })
})
