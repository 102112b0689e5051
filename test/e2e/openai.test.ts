/**
 * End to end through the official `openai` client: a real herd process, a real
 * llama-server, a tiny real model.
 */
import OpenAI from 'openai'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'

let herd: HerdProcess
let client: OpenAI

const cookbook = {
  default_model: 'tiny',
  models: [
    { name: 'tiny', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 1024 --parallel 2 -t 1', idle_timeout_seconds: 120 }] },
    { name: 'tiny-embed', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 512 --embedding --pooling mean -t 1' }] },
  ],
}

beforeAll(async () => {
  const { mkdtemp } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const home = await mkdtemp(join(tmpdir(), 'herd-e2e-openai-'))
  await writeTinyGguf(join(home, 'tiny.gguf'))
  herd = await startHerd({ home, cookbook })
  client = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 })
})

afterAll(async () => {
  await herd?.dispose()
  const { rm } = await import('node:fs/promises')
  if (herd) await rm(herd.home, { recursive: true, force: true })
})

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${herd.url}/metrics`)).text()
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
}

describe('the OpenAI API on a real llama-server', () => {
  it('shares one spawn between two concurrent cold requests', async () => {
    const ask = () => client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 })
    const [a, b] = await Promise.all([ask(), ask()])
    expect(a.choices[0]?.message.content).toBeTypeOf('string')
    expect(b.choices[0]?.message.content).toBeTypeOf('string')
    expect(await metric('herd_spawn_seconds_count{model="tiny:default"}')).toBe(1)
  })

  it('answers chat completions without streaming, naming the node that served it', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 })
      .withResponse()
    expect(response.headers.get('x-herd-node')).toMatch(/^node-/)
    expect(response.headers.get('x-request-id')).toBeTruthy()
    expect(data.object).toBe('chat.completion')
    expect(data.usage?.completion_tokens).toBeGreaterThan(0)
  })

  it('streams chat completions chunk by chunk', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 24, stream: true })
    let chunks = 0
    let text = ''
    for await (const chunk of stream) {
      chunks++
      text += chunk.choices[0]?.delta?.content ?? ''
    }
    expect(chunks).toBeGreaterThan(2)
    expect(text.length).toBeGreaterThan(0)
  })

  it('answers legacy completions, streaming and not', async () => {
    const done = await client.completions.create({ model: 'tiny:default', prompt: 'the herd', max_tokens: 8 })
    expect(done.choices[0]?.text).toBeTypeOf('string')
    const stream = await client.completions.create({ model: 'tiny', prompt: 'the herd', max_tokens: 8, stream: true })
    let chunks = 0
    for await (const _chunk of stream) chunks++
    expect(chunks).toBeGreaterThan(1)
  })

  it('serves embeddings from the embedding profile and refuses chat there', async () => {
    const res = await client.embeddings.create({ model: 'tiny-embed', input: ['hello world', 'the herd'] })
    expect(res.data).toHaveLength(2)
    expect(res.data[0]?.embedding.length).toBe(64)
    await expect(client.chat.completions.create({ model: 'tiny-embed', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({
      status: 400,
      code: 'unsupported_endpoint',
    })
  })

  it('lists models in the OpenAI shape', async () => {
    const ids: string[] = []
    for await (const m of client.models.list()) ids.push(m.id)
    expect(ids).toEqual(expect.arrayContaining(['tiny', 'tiny:default', 'tiny-embed', 'tiny-embed:default']))
    const one = await client.models.retrieve('tiny:default')
    expect(one.owned_by).toMatch(/^node-/)
  })

  it('answers an unknown model with 404 model_not_found', async () => {
    await expect(client.chat.completions.create({ model: 'nope', messages: [] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' })
  })

  it('picks up a cookbook edit while running, and keeps the old cookbook on an invalid edit', async () => {
    const file = join(herd.home, 'cookbook.yaml')
    const original = parse(await readFile(file, 'utf8')) as typeof cookbook
    const edited = {
      ...original,
      models: [...original.models, { name: 'tiny-2', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 256 -t 1' }] }],
    }
    await writeFile(file, stringify(edited))
    await waitFor('tiny-2 to appear in /v1/models', async () => {
      const ids: string[] = []
      for await (const m of client.models.list()) ids.push(m.id)
      return ids.includes('tiny-2')
    })
    const res = await client.chat.completions.create({ model: 'tiny-2', messages: [{ role: 'user', content: 'x' }], max_tokens: 4 })
    expect(res.choices).toHaveLength(1)

    await writeFile(file, 'models: [ { name: broken, profiles: [ { id: default, modle_path: x } ] } ]\n')
    await waitFor('the invalid edit to be logged', () => herd.output().includes('modle_path'))
    const still = await client.chat.completions.create({ model: 'tiny-2', messages: [{ role: 'user', content: 'x' }], max_tokens: 4 })
    expect(still.choices).toHaveLength(1)
  })
})
