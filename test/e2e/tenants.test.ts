/**
 * Tenant keys on a real daemon (with the fake llama-server), made with the real CLI and
 * used through the official `openai` client: successes carry OpenAI's rate-limit headers,
 * and the client surfaces 429 (with Retry-After and the headers), 403 and 401.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeFakeLlamaBinary, makeFakeModel } from '../fixtures/fake-llama.ts'
import { HERD, startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'

const ADMIN = 'e2e-admin-key'
let dir: string
let herd: HerdProcess
/** alice's secret, made by the first test and used by the second. */
let alice = ''

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-tenants-'))
  const server = await makeFakeLlamaBinary(dir)
  const model = await makeFakeModel(dir)
  herd = await startHerd({
    cookbook: {
      models: [
        { name: 'tiny', profiles: [{ id: 'default', model_path: model, llama_server_args: '-np 4' }] },
        { name: 'other', profiles: [{ id: 'default', model_path: model }] },
      ],
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

const client = (apiKey: string): OpenAI => new OpenAI({ baseURL: `${herd.url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 })
const ask = (c: OpenAI, model = 'tiny') => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }).withResponse()

describe('tenant keys through the CLI and the openai client', () => {
  it('makes a key with herd keys create, prints its secret once, and lists it', async () => {
    const made = await herdCli(['keys', 'create', '--name', 'alice', '--models', 'tiny*', '--rpm', '3', '--tpm', '100000', '--expires', '30d'])
    expect(made.code, made.stderr).toBe(0)
    expect(made.stdout).toMatch(/^created key_[0-9a-f]{24} \(alice\)/)
    const secret = /herd-[A-Za-z0-9_-]{43}/.exec(made.stdout)?.[0]
    expect(secret).toBeDefined()
    const list = await herdCli(['keys', 'list'])
    expect(list.stdout).toMatch(/^ID\s+NAME\s+MODELS\s+RPM\s+TPM/)
    expect(list.stdout).toMatch(/alice\s+tiny\*\s+3\s+100000/)
    expect(list.stdout).not.toContain(secret)
    const shown = await herdCli(['keys', 'show', 'alice', '--json'])
    expect(JSON.parse(shown.stdout).key).toMatchObject({ name: 'alice', rpm: 3, status: 'active' })
    expect(shown.stdout).not.toContain(secret)
    alice = secret as string
  })

  it('answers with OpenAI’s rate-limit headers, then 429 with Retry-After through the openai client', async () => {
    const c = client(alice)
    const { response } = await ask(c)
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3')
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('2')
    expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/s$/)
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('100000')
    // A stream is metered too.
    const stream = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, stream: true })
    for await (const _ of stream) void _
    await ask(c)
    const err = await ask(c).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    const limited = err as InstanceType<typeof OpenAI.RateLimitError>
    expect(limited.status).toBe(429)
    expect(limited.code).toBe('rate_limited')
    expect(Number(limited.headers?.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.headers?.get('x-ratelimit-remaining-requests')).toBe('0')
    expect(limited.headers?.get('x-ratelimit-limit-tokens')).toBe('100000')
  })

  it('changes a key with herd keys update, and says what is wrong with a bad flag', async () => {
    const updated = await herdCli(['keys', 'update', 'alice', '--tpm', 'none', '--no-egress', '--budget', '5usd/day', '--budget-action', 'downgrade'])
    expect(updated.code, updated.stderr).toBe(0)
    expect(updated.stdout).toMatch(/^updated key_[0-9a-f]{24} \(alice\) to version 2/)
    const shown = JSON.parse((await herdCli(['keys', 'show', 'alice', '--json'])).stdout) as { key: Record<string, unknown> }
    expect(shown.key).toMatchObject({ tpm: null, rpm: 3, no_egress: true, budget: { amount: 5, currency: 'usd', period: 'day', action: 'downgrade' } })
    const bad = await herdCli(['keys', 'update', 'alice', '--rpm', 'lots'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--rpm takes a positive whole number (or none), not 'lots'")
    const missing = await herdCli(['keys', 'show', 'nobody'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("no key named 'nobody'")
  })

  it('answers 403 for a model outside the key’s list and 401 for an unknown key', async () => {
    const made = await herdCli(['keys', 'create', '--name', 'bob', '--models', 'tiny', '--json'])
    const { secret } = JSON.parse(made.stdout) as { secret: string }
    const denied = await ask(client(secret), 'other').catch((e: unknown) => e)
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect((denied as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_allowed')
    const unknown = await ask(client('herd-nobody')).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError)
    const none = await fetch(`${herd.url}/v1/models`)
    expect(none.status).toBe(401)
  })

  it('refuses a key once herd keys revoke has run, and keeps it after a restart', async () => {
    const made = await herdCli(['keys', 'create', '--name', 'carol', '--json'])
    const { secret, key } = JSON.parse(made.stdout) as { secret: string; key: { id: string } }
    const c = client(secret)
    await ask(c)
    const revoked = await herdCli(['keys', 'revoke', 'carol'])
    expect(revoked.stdout).toContain(`revoked ${key.id}`)
    const err = await ask(c).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    // The store outlives the process: bob still works, carol is still refused.
    const home = herd.home
    await herd.stop()
    herd = await startHerd({
      home,
      cookbook: { models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: join(dir, 'model.gguf') }] }] },
      config: { llama: { server: join(dir, 'llama-server') }, http: { admin_keys: [ADMIN] } },
    })
    await waitFor(
      'the restarted node to refuse carol',
      async () => (await ask(client(secret)).catch((e: unknown) => e)) instanceof OpenAI.AuthenticationError,
      { timeoutMs: 5000 },
    )
    const list = await herdCli(['keys', 'list', '--all', '--json'])
    expect((JSON.parse(list.stdout) as { name: string; status: string }[]).map((k) => `${k.name}:${k.status}`)).toEqual([
      'alice:active',
      'bob:active',
      'carol:revoked',
    ])
  })
})
