/**
 * One herd endpoint in front of external backends, end to end with the official clients:
 * a real llama-server the test starts itself (not managed by herd) as an `openai`
 * backend, a second one behind an authenticating proxy (the node's key reaches it, the
 * client's never does), a fake Anthropic Messages server for Anthropic clients, a fake
 * Ollama for `discover: true`, and backends that fail in every way the issue lists. Then
 * the node's output and every answer are searched for the keys, and a backend registered
 * at run time survives a restart.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authProxy, type AuthProxy } from '../fixtures/auth-proxy.ts'
import { fakeAnthropic, fakeOpenAi, type FakeBackend } from '../fixtures/fake-backend.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { freePort, startLlamaServer, type RunningLlamaServer } from '../helpers/llama-server.ts'
import { waitFor } from '../helpers/poll.ts'

const CLIENT_KEY = 'client-key-never-forwarded-0001'
const NODE_KEY = 'sk-node-guarded-0123456789abcdef'
const ANTHROPIC_KEY = 'sk-ant-node-0123456789abcdef'
const CLOUD_KEY = 'sk-cloud-node-0123456789abcdef'
const LAB_KEY = 'sk-lab-registered-0123456789'
const KEYS = [NODE_KEY, ANTHROPIC_KEY, CLOUD_KEY, LAB_KEY]

let dir: string
let modelPath: string
let direct: RunningLlamaServer
let guardedServer: RunningLlamaServer
let proxy: AuthProxy
let claude: FakeBackend
let claudeFaults: FakeBackend
let ollama: FakeBackend
let cloud: FakeBackend
let flaky: FakeBackend
let deadPort: number
let herd: HerdProcess
const answers: string[] = []

const auth = { authorization: `Bearer ${CLIENT_KEY}` }

function cookbook(): unknown {
  const claudeBackend = (name: string, base: string) => ({
    name,
    protocol: 'anthropic',
    base_url: base,
    api_key_file: join(dir, 'anthropic.key'),
    models: ['claude-fake'],
    timeouts: { idle_ms: 500 },
  })
  return {
    models: [],
    // A role whose first choice is down: the answer comes from the next one, and says so.
    routes: { coder: { candidates: ['dead/m', 'direct/tiny-upstream'], strategy: 'first-available' } },
    backends: [
      { name: 'direct', protocol: 'openai', base_url: `${direct.url}/v1`, models: ['tiny-upstream'] },
      { name: 'guarded', protocol: 'openai', base_url: `${proxy.url}/v1`, api_key_env: 'GUARDED_KEY', models: [{ name: 'tiny', aliases: ['guarded-tiny'] }] },
      claudeBackend('claude', claude.baseUrl),
      claudeBackend('claude-faults', claudeFaults.baseUrl),
      { name: 'ollama', protocol: 'openai', base_url: ollama.baseUrl, discover: true, health_interval_ms: 500 },
      { name: 'cloud', protocol: 'openai', base_url: cloud.baseUrl, api_key_env: 'CLOUD_KEY', egress: true, models: ['gpt-fake'] },
      {
        name: 'flaky',
        protocol: 'openai',
        base_url: flaky.baseUrl,
        models: ['m'],
        timeouts: { first_byte_ms: 500, idle_ms: 500 },
        health_interval_ms: 60_000,
      },
      { name: 'dead', protocol: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, models: ['m'], timeouts: { connect_ms: 500 } },
    ],
  }
}

async function start(home?: string): Promise<HerdProcess> {
  return startHerd({
    ...(home === undefined ? {} : { home }),
    cookbook: cookbook(),
    config: { node: { name: 'gateway' }, log_level: 'debug', http: { api_keys: [CLIENT_KEY] } },
    env: { GUARDED_KEY: NODE_KEY, CLOUD_KEY, HERD_BACKEND_KEY_LAB: LAB_KEY },
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-backends-'))
  modelPath = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
  ;[direct, guardedServer] = await Promise.all([
    startLlamaServer(['-m', modelPath, '-c', '512', '-t', '1']),
    startLlamaServer(['-m', modelPath, '-c', '512', '-t', '1']),
  ])
  proxy = await authProxy(guardedServer.url, NODE_KEY)
  ;[claude, claudeFaults, ollama, cloud, flaky] = await Promise.all([
    fakeAnthropic({ key: ANTHROPIC_KEY }),
    fakeAnthropic({ key: ANTHROPIC_KEY }),
    fakeOpenAi({ models: ['llama3.2:1b', 'qwen2.5:0.5b'], ollama: true }),
    fakeOpenAi({ key: CLOUD_KEY, models: ['gpt-fake'] }),
    fakeOpenAi({ models: ['m'] }),
  ])
  deadPort = await freePort()
  await writeFile(join(dir, 'anthropic.key'), `${ANTHROPIC_KEY}\n`, { mode: 0o600 })
  herd = await start()
}, 120_000)

afterAll(async () => {
  await herd?.dispose()
  await Promise.all([
    direct?.stop(),
    guardedServer?.stop(),
    proxy?.close(),
    claude?.close(),
    claudeFaults?.close(),
    ollama?.close(),
    cloud?.close(),
    flaky?.close(),
  ])
  await rm(dir, { recursive: true, force: true })
})

const openai = (): OpenAI => new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 20_000 })
const anthropic = (): Anthropic => new Anthropic({ baseURL: herd.url, apiKey: CLIENT_KEY, authToken: null, maxRetries: 0, timeout: 20_000 })

async function get(path: string): Promise<string> {
  const text = await (await fetch(herd.url + path, { headers: auth })).text()
  answers.push(text)
  return text
}

async function chat(model: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${herd.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth, ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  })
}

describe('an openai backend: a real llama-server herd did not start', () => {
  it('answers the openai client, naming the model that served it and leaving the body as llama-server wrote it', async () => {
    const { data, response } = await openai()
      .chat.completions.create({ model: 'direct/tiny-upstream', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 })
      .withResponse()
    expect(data.choices[0]?.message.content).toBeTypeOf('string')
    expect(response.headers.get('x-herd-model')).toBe('direct/tiny-upstream')
    expect(response.headers.get('x-herd-node')).toBe('gateway')
    // llama-server names the model by its file, whatever the request said.
    expect(data.model).toBe(modelPath)
  })

  it('streams', async () => {
    const stream = await openai().chat.completions.create({
      model: 'direct/tiny-upstream',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 6,
      stream: true,
      // The tiny random model may pick end-of-text first, which would make an empty (but valid) stream: llama-server's own
      // field (not in the openai client's types; the openai backend passes it on as it came) keeps it generating.
      ...({ ignore_eos: true } as unknown as Record<string, never>),
    })
    let chunks = 0
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content !== undefined) chunks++
    expect(chunks).toBeGreaterThan(0)
  })

  it("sends the node's key through the authenticating proxy, never the client's", async () => {
    const res = await openai().chat.completions.create({ model: 'guarded-tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })
    expect(res.choices).toHaveLength(1)
    const posts = proxy.seen.filter((h) => h['content-type'] !== undefined)
    expect(posts.length).toBeGreaterThan(0)
    expect(posts.every((h) => h.authorization === `Bearer ${NODE_KEY}`)).toBe(true)
    expect(JSON.stringify(proxy.seen)).not.toContain(CLIENT_KEY)
    // The probes carry the node's key too.
    expect(proxy.seen.some((h) => h['content-type'] === undefined && h.authorization === `Bearer ${NODE_KEY}`)).toBe(true)
  })
})

describe('routes over backends', () => {
  it('answers a route from its next backend model when the first is down, naming it in x-herd-model', async () => {
    const res = await chat('coder')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-model')).toBe('direct/tiny-upstream')
    answers.push(await res.text())
  })
})

describe('an anthropic backend for Anthropic clients', () => {
  it('answers messages, streaming and not, with the x-api-key and anthropic-version of the node', async () => {
    const message = await anthropic().messages.create({ model: 'claude/claude-fake', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'Hello from the fake Anthropic' })
    expect(message.model).toBe('claude-fake')
    const stream = anthropic().messages.stream({ model: 'claude/claude-fake', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
    const final = await stream.finalMessage()
    expect(final.content[0]).toMatchObject({ type: 'text', text: 'Hello from the fake Anthropic' })
    const posts = claude.requests.filter((r) => r.method === 'POST')
    expect(posts.every((r) => r.headers['x-api-key'] === ANTHROPIC_KEY && r.headers['anthropic-version'] === '2023-06-01')).toBe(true)
    expect(JSON.stringify(claude.requests)).not.toContain(CLIENT_KEY)
    const counted = await anthropic().messages.countTokens({ model: 'claude/claude-fake', messages: [{ role: 'user', content: 'hi' }] })
    expect(counted.input_tokens).toBe(7)
  })

  it('serves an OpenAI client on an anthropic backend’s model through the converter (test/e2e/conversion.test.ts has more)', async () => {
    const res = await chat('claude/claude-fake')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-model')).toBe('claude/claude-fake')
    const body = (await res.json()) as { object: string; model: string }
    expect(body).toMatchObject({ object: 'chat.completion', model: 'claude-fake' })
    answers.push(JSON.stringify(body))
  })

  it('ends a stream that stalls mid-answer with an error event within idle_ms', async () => {
    claudeFaults.stall()
    const started = Date.now()
    const stream = anthropic().messages.stream({ model: 'claude-faults/claude-fake', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
    await expect(stream.finalMessage()).rejects.toThrow(/idle_ms/)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('answers 429 with the backend’s Retry-After when it rate limits and no other candidate exists', async () => {
    claudeFaults.rateLimit(4)
    const err = await anthropic()
      .messages.create({ model: 'claude-faults/claude-fake', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Anthropic.RateLimitError)
    expect((err as InstanceType<typeof Anthropic.RateLimitError>).headers?.get('retry-after')).toBe('4')
    expect((err as InstanceType<typeof Anthropic.RateLimitError>).headers?.get('x-herd-error')).toBe('upstream_rate_limited')
    // While its circuit is open for those seconds, herd does not knock again.
    const before = claudeFaults.requests.filter((r) => r.method === 'POST').length
    const again = await anthropic()
      .messages.create({ model: 'claude-faults/claude-fake', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    expect(again).toBeInstanceOf(Anthropic.APIError)
    expect(claudeFaults.requests.filter((r) => r.method === 'POST').length).toBe(before)
  })
})

describe('discovery', () => {
  it("lists an Ollama's models as ollama/<name> and serves them", async () => {
    await waitFor('the ollama models', async () => (await get('/v1/models')).includes('ollama/qwen2.5:0.5b'), { timeoutMs: 10_000 })
    const list = JSON.parse(await get('/v1/models')) as { data: { id: string; herd: { backend?: string; egress?: boolean } }[] }
    expect(list.data.find((m) => m.id === 'ollama/llama3.2:1b')?.herd).toMatchObject({ backend: 'ollama', egress: false })
    expect(list.data.find((m) => m.id === 'cloud/gpt-fake')?.herd).toMatchObject({ backend: 'cloud', egress: true })
    const res = await chat('ollama/llama3.2:1b')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-model')).toBe('ollama/llama3.2:1b')
    expect(ollama.requests.find((r) => r.method === 'POST')?.body?.['model']).toBe('llama3.2:1b')
  })
})

describe('x-herd-no-egress', () => {
  it('never reaches an egress backend, and says so', async () => {
    const before = cloud.requests.filter((r) => r.method === 'POST').length
    const refused = await chat('cloud/gpt-fake', { 'x-herd-no-egress': '1' })
    expect(refused.status).toBe(503)
    const body = (await refused.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('no_route')
    expect(body.error.message).toContain('x-herd-no-egress')
    expect(cloud.requests.filter((r) => r.method === 'POST').length).toBe(before)
    expect((await chat('cloud/gpt-fake')).status).toBe(200)
    expect(cloud.requests.at(-1)?.headers['authorization']).toBe(`Bearer ${CLOUD_KEY}`)
  })
})

describe('faults end in a clean error within the timeouts', () => {
  it.each([
    // Its probe found nothing listening: refused at once, without trying.
    ['refuses connections', 'dead/m', () => {}, 503, 'no_route'],
    ['hangs before the head', 'flaky/m', () => flaky.hang(), 504, 'upstream_timeout'],
    ['sends garbage', 'flaky/m', () => flaky.garbage(), 502, 'upstream_error'],
    ['answers 500', 'flaky/m', () => flaky.fail(500), 502, 'upstream_error'],
  ] as const)('a backend that %s', async (_what, model, arrange, status, code) => {
    arrange()
    const started = Date.now()
    const res = await chat(model)
    answers.push(await res.text())
    expect(res.status).toBe(status)
    expect(res.headers.get('x-herd-error')).toBe(code)
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})

describe('credentials never leave the node', () => {
  it('shows backends in /cluster/nodes and /admin/backends with their state, and no key anywhere', async () => {
    const nodes = JSON.parse(await get('/cluster/nodes')) as {
      nodes: { self: boolean; backends: { name: string; health: string; inUse: number; maxConcurrency: number }[] }[]
    }
    const self = nodes.nodes.find((n) => n.self)
    expect(self?.backends.map((b) => b.name)).toEqual(['direct', 'guarded', 'claude', 'claude-faults', 'ollama', 'cloud', 'flaky', 'dead'])
    expect(self?.backends.find((b) => b.name === 'direct')).toMatchObject({ health: 'up', inUse: 0, maxConcurrency: 32 })
    const admin = JSON.parse(await get('/admin/backends')) as { backends: { name: string; credential: unknown; state: { health: string } | null }[] }
    expect(admin.backends.find((b) => b.name === 'guarded')).toMatchObject({ credential: { env: 'GUARDED_KEY' }, state: { health: 'up' } })
    expect(admin.backends.find((b) => b.name === 'dead')?.state?.health).toBe('down')
    await get('/v1/models')
    await get('/metrics')
    for (const text of [...answers, herd.output()]) for (const key of KEYS) expect(text).not.toContain(key)
  })
})

describe('a backend registered at run time', () => {
  it('is served at once, survives a restart, and goes with DELETE', async () => {
    const post = await fetch(`${herd.url}/admin/backends`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lab', protocol: 'openai', base_url: `${proxy.url}/v1`, api_key_env: 'HERD_BACKEND_KEY_LAB', models: ['tiny'] }),
    })
    expect(post.status).toBe(201)
    answers.push(await post.text())
    // The proxy wants the guarded key: it refuses the lab key, so the probe says the backend is down, and why.
    const labHealth = async (): Promise<string | undefined> =>
      (JSON.parse(await get('/admin/backends')) as { backends: { name: string; state: { health: string } | null }[] }).backends.find((x) => x.name === 'lab')
        ?.state?.health
    await waitFor('the lab probe', async () => (await labHealth()) === 'down')
    expect(proxy.seen.some((h) => h.authorization === `Bearer ${LAB_KEY}`)).toBe(true)
    const refused = await chat('lab/tiny')
    expect(refused.status).toBe(503)
    const why = await refused.text()
    answers.push(why)
    expect(why).toContain("refused herd's credential (401)")
    const literal = await fetch(`${herd.url}/admin/backends`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'lab2', protocol: 'openai', base_url: `${proxy.url}/v1`, api_key: NODE_KEY, models: ['tiny'] }),
    })
    expect(literal.status).toBe(400)
    answers.push(await literal.text())
    expect((await stat(join(herd.home, 'backends.json'))).mode & 0o777).toBe(0o600)
    expect(await readFile(join(herd.home, 'backends.json'), 'utf8')).not.toContain(LAB_KEY)

    const home = herd.home
    await herd.stop()
    const output = herd.output()
    herd = await start(home)
    const names = (JSON.parse(await get('/admin/backends')) as { backends: { name: string; source: string }[] }).backends
    expect(names.find((b) => b.name === 'lab')?.source).toBe('admin')
    await waitFor('the lab probe after the restart', async () => (await labHealth()) === 'down')
    expect((await chat('lab/tiny')).status).toBe(503)
    const del = await fetch(`${herd.url}/admin/backends/lab`, { method: 'DELETE', headers: auth })
    expect(del.status).toBe(200)
    expect((await chat('lab/tiny')).status).toBe(404)
    for (const text of [...answers, output, herd.output()]) for (const key of KEYS) expect(text).not.toContain(key)
  })
})
