/**
 * Runtime registration (POST/GET/DELETE /admin/backends): the credential by reference
 * only, and only to what the operator set aside; persisted in HERD_HOME (mode 600),
 * loaded again at start, behaving like a configured backend; clashes refused.
 */
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { text } from 'node:stream/consumers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Backends, REGISTRY_FILE } from '../../src/backends/index.ts'
import { HerdError } from '../../src/errors/index.ts'
import { cookbook, profile, testApp } from '../api/helpers.ts'
import { waitFor } from '../helpers/poll.ts'
import { fakeOpenAi, type FakeBackend } from '../fixtures/fake-backend.ts'
import { capture, routeRequest, spec } from './helpers.ts'

const KEY = 'sk-registered-0123456789'
const ENV = { HERD_BACKEND_KEY_LAB: KEY, AWS_SECRET_ACCESS_KEY: 'aws-secret-value' }

let home: string
let fake: FakeBackend
const running: Backends[] = []

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'herd-registry-'))
  fake = await fakeOpenAi({ key: KEY })
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => b.stop()))
  await fake.close()
  await rm(home, { recursive: true, force: true })
})

async function node(log = capture()): Promise<Backends> {
  const b = new Backends({ logger: log.logger, nodeName: 'node-a', isModelName: (n) => n === 'tiny' }, { home, env: ENV })
  await b.start()
  running.push(b)
  return b
}

const lab = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'lab',
  protocol: 'openai',
  base_url: fake.baseUrl,
  api_key_env: 'HERD_BACKEND_KEY_LAB',
  models: ['fake-model'],
  ...over,
})

const refusal = async (p: Promise<unknown>): Promise<HerdError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof HerdError)) throw new Error(`expected a HerdError, got ${String(err)}`)
  return err
}

describe('registered backends', () => {
  it('serves a registered backend at once, persists it with mode 600 and loads it again at the next start', async () => {
    const first = await node()
    const view = await first.register(lab())
    expect(view).toMatchObject({ name: 'lab', source: 'admin', credential: { env: 'HERD_BACKEND_KEY_LAB' }, models: ['lab/fake-model'] })
    const res = await first.serve(routeRequest({ profileId: 'lab/fake-model' }))
    expect(res.status).toBe(200)
    await text(res.body)
    const file = join(home, REGISTRY_FILE)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const stored = await readFile(file, 'utf8')
    expect(stored).toContain('HERD_BACKEND_KEY_LAB')
    expect(stored).not.toContain(KEY)
    await first.stop()

    const again = await node()
    expect(again.views().map((v) => v.name)).toEqual(['lab'])
    await waitFor('the probe', () => again.find('lab/fake-model')?.health === 'up')
    await again.remove('lab')
    expect(again.views()).toEqual([])
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ backends: [] })
  })

  it.each([
    ['a literal api_key', { api_key: KEY }, 'api_key: credentials are never sent in the body'],
    ['a literal token', { token: KEY }, 'token: credentials are never sent in the body'],
    ['an Authorization header', { headers: { Authorization: `Bearer ${KEY}` } }, 'headers.Authorization: credentials are never sent in the body'],
    ['a variable not set aside for backends', { api_key_env: 'AWS_SECRET_ACCESS_KEY' }, 'may only name variables HERD_BACKEND_KEY_<NAME>'],
    ['a file outside HERD_HOME/keys', { api_key_env: undefined, api_key_file: '/etc/hostname' }, "a registered backend's key file must be in"],
    ['an unknown field', { colour: 'red' }, 'invalid backend'],
  ])('refuses %s, never echoing a key', async (_what, over, message) => {
    const b = await node()
    const err = await refusal(b.register(lab(over)))
    expect(err.code).toBe('invalid_request')
    expect(err.status).toBe(400)
    expect(err.message).toContain(message)
    expect(err.message).not.toContain(KEY)
    expect(err.message).not.toContain('aws-secret-value')
    expect(b.views()).toEqual([])
  })

  it('reads a key file under HERD_HOME/keys (mode 600), and refuses a link out of it', async () => {
    await mkdir(join(home, 'keys'))
    await writeFile(join(home, 'keys', 'lab.key'), KEY, { mode: 0o600 })
    const outside = join(home, 'outside.key')
    await writeFile(outside, 'outside-secret', { mode: 0o600 })
    await symlink(outside, join(home, 'keys', 'link.key'))
    const b = await node()
    const view = await b.register(lab({ api_key_env: undefined, api_key_file: 'lab.key' }))
    expect(view.credential).toEqual({ file: join(home, 'keys', 'lab.key') })
    const err = await refusal(b.register(lab({ name: 'lab2', api_key_env: undefined, api_key_file: 'link.key' })))
    expect(err.message).toContain('must be in')
  })

  it('refuses a name the cookbook has, a second registration, and a model name the node already uses, with 409', async () => {
    const b = await node()
    b.setConfigured([await spec({ name: 'office', base_url: fake.baseUrl })])
    expect((await refusal(b.register(lab({ name: 'office' })))).code).toBe('backend_conflict')
    await b.register(lab())
    const twice = await refusal(b.register(lab()))
    expect(twice.code).toBe('backend_conflict')
    expect(twice.status).toBe(409)
    expect((await refusal(b.register(lab({ name: 'x', models: [{ name: 'm', aliases: ['tiny'] }] })))).code).toBe('backend_conflict')
    // The cookbook's own cannot be deleted here, an unknown one is not found.
    expect((await refusal(b.remove('office'))).code).toBe('backend_conflict')
    expect((await refusal(b.remove('nope'))).code).toBe('not_found')
  })

  it('keeps a registration whose variable is gone, reports it, and lets it be deleted', async () => {
    const first = await node()
    await first.register(lab())
    await first.stop()
    const log = capture()
    const b = new Backends({ logger: log.logger, nodeName: 'node-a' }, { home, env: {} })
    await b.start()
    running.push(b)
    expect(b.views()).toEqual([expect.objectContaining({ name: 'lab', error: expect.stringContaining('HERD_BACKEND_KEY_LAB is not set') })])
    expect(b.find('lab/fake-model')).toBeUndefined()
    expect(log.text()).toContain('registered backend not started')
    await b.remove('lab')
    expect(b.views()).toEqual([])
  })
})

describe('/admin/backends', () => {
  it('registers, lists and deletes over HTTP, answering without any secret', async () => {
    const b = await node()
    const book = cookbook([profile('tiny:default')])
    const { app } = testApp({
      cookbook: book,
      apiKeys: ['admin-key'],
      over: {
        admin: { servesLocally: () => false, prewarm: async () => {}, unload: async () => 0, instances: () => [], logs: () => [], backends: b },
      },
    })
    const auth = { authorization: 'Bearer admin-key', 'content-type': 'application/json' }
    const post = await app.inject({
      method: 'POST',
      url: '/admin/backends',
      headers: auth,
      payload: JSON.stringify(lab({ headers: { 'X-Team': 'team-secret-value' } })),
    })
    expect(post.statusCode).toBe(201)
    expect(post.json().backend).toMatchObject({ name: 'lab', headers: ['x-team'] })
    const list = await app.inject({ method: 'GET', url: '/admin/backends', headers: auth })
    expect(list.json().backends).toHaveLength(1)
    const literal = await app.inject({ method: 'POST', url: '/admin/backends', headers: auth, payload: JSON.stringify(lab({ name: 'l2', api_key: KEY })) })
    expect(literal.statusCode).toBe(400)
    const clash = await app.inject({ method: 'POST', url: '/admin/backends', headers: auth, payload: JSON.stringify(lab()) })
    expect(clash.statusCode).toBe(409)
    expect(clash.json().error.code).toBe('backend_conflict')
    for (const res of [post, list, literal, clash]) {
      expect(res.body).not.toContain(KEY)
      expect(res.body).not.toContain('team-secret-value')
    }
    const del = await app.inject({ method: 'DELETE', url: '/admin/backends/lab', headers: auth })
    expect(del.json()).toEqual({ name: 'lab', removed: true })
    expect((await app.inject({ method: 'DELETE', url: '/admin/backends/lab', headers: auth })).statusCode).toBe(404)
    await app.close()
  })
})

describe('configured backends', () => {
  it('keeps a backend whose definition is unchanged on reload, and replaces one that changed', async () => {
    const b = await node()
    const keyed = (fields: Record<string, unknown>) => spec({ base_url: fake.baseUrl, api_key_env: 'K', ...fields }, { K: KEY })
    b.setConfigured([await keyed({ name: 'office' }), await keyed({ name: 'other' })])
    await waitFor('probes', () => b.state().every((s) => s.health === 'up'))
    b.setConfigured([await keyed({ name: 'office' }), await keyed({ name: 'other', max_concurrency: 2 })])
    const [office, other] = b.state()
    // The unchanged one keeps its probed health; the changed one starts over.
    expect(office?.health).toBe('up')
    expect(other).toMatchObject({ health: 'unknown', maxConcurrency: 2 })
    b.setConfigured([])
    expect(b.state()).toEqual([])
    expect(b.find('office/fake-model')).toBeUndefined()
  })

  it('sees a rotated key as a change', async () => {
    const b = await node()
    b.setConfigured([await spec({ name: 'office', base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY })])
    await waitFor('probe', () => b.state()[0]?.health === 'up')
    b.setConfigured([await spec({ name: 'office', base_url: fake.baseUrl, api_key_env: 'K' }, { K: 'another-key' })])
    expect(b.state()[0]?.health).toBe('unknown')
  })

  it('gossips at most the models a state may carry, over all backends', async () => {
    const log = capture()
    const b = await node(log)
    const models = (prefix: string) => Array.from({ length: 700 }, (_, i) => `${prefix}${i}`)
    b.setConfigured([
      await spec({ name: 'one', base_url: fake.baseUrl, models: models('a') }),
      await spec({ name: 'two', base_url: fake.baseUrl, models: models('b') }),
    ])
    const state = b.state()
    expect(state.reduce((n, s) => n + s.models.length, 0)).toBe(1024)
    // Still served here, all of them.
    expect(b.find('two/b699')?.name).toBe('two')
    expect(log.text()).toContain('more backend models than gossip carries')
  })
})
