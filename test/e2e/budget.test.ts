/**
 * Budget-aware routing on a real daemon (the fake llama-server) through the official
 * `openai` client: a key with a small budget and `downgrade` is moved to the free local
 * equivalent once the dear model spent it, and the answer says so; `herd usage` shows both.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeFakeLlamaBinary, makeFakeModel } from '../fixtures/fake-llama.ts'
import { HERD, startHerd, type HerdProcess } from '../helpers/herd-process.ts'

const ADMIN = 'e2e-admin-key'
let dir: string
let herd: HerdProcess

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-budget-'))
  const server = await makeFakeLlamaBinary(dir)
  const model = await makeFakeModel(dir)
  herd = await startHerd({
    cookbook: {
      models: [
        { name: 'dear', profiles: [{ id: 'default', model_path: model, price: { input_per_mtok: 1000, output_per_mtok: 1000 } }] },
        { name: 'cheap', profiles: [{ id: 'default', model_path: model }] },
      ],
      equivalents: [['dear', 'cheap']],
    },
    config: { llama: { server }, http: { admin_keys: [ADMIN] } },
  })
})

afterAll(async () => {
  await herd?.dispose()
  await rm(dir, { recursive: true, force: true })
})

function herdCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(HERD, [...args, '--config', join(herd.home, 'config.yaml')], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    )
  })
}

describe('a downgrade key over budget', () => {
  it('is moved to the local equivalent with x-herd-routed: budget and x-herd-model, and herd usage shows the spend', async () => {
    const made = await herdCli(['keys', 'create', '--name', 'thrifty', '--budget', '0.001usd/day', '--budget-action', 'downgrade', '--json'])
    expect(made.code, made.stderr).toBe(0)
    const { secret } = JSON.parse(made.stdout) as { secret: string }
    const c = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: secret, maxRetries: 0, timeout: 20_000 })
    const ask = () => c.chat.completions.create({ model: 'dear', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 8 }).withResponse()
    // A few prompt tokens at 1000 per million: over 0.001 in one answer.
    const first = await ask()
    expect(first.response.headers.get('x-herd-model')).toBe('dear:default')
    expect(first.response.headers.get('x-herd-routed')).toBeNull()
    const second = await ask()
    expect(second.response.headers.get('x-herd-routed')).toBe('budget')
    expect(second.response.headers.get('x-herd-model')).toBe('cheap:default')
    expect(second.data.choices[0]?.message).toBeDefined()
    // A stream is moved too, and its usage chunk the client did not ask for is not in it.
    const stream = await c.chat.completions.create({ model: 'dear', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true })
    for await (const chunk of stream) expect(chunk.choices.length).toBeGreaterThan(0)
    // The ledger is written every second; /admin/usage flushes before it reads.
    const usage = await herdCli(['usage', '--by', 'model', '--json'])
    expect(usage.code, usage.stderr).toBe(0)
    const rows = (JSON.parse(usage.stdout) as { rows: { model: string; requests: number; cost: number }[] }).rows
    expect(rows.find((r) => r.model === 'dear:default')).toMatchObject({ requests: 1 })
    expect(rows.find((r) => r.model === 'dear:default')?.cost).toBeGreaterThan(0.001)
    expect(rows.find((r) => r.model === 'cheap:default')).toMatchObject({ requests: 2, cost: 0 })
  })
})
