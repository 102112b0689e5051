/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core, no browser
 * download) on a three-daemon mesh with real llama-servers: the login gate holds, the page
 * lists all three nodes and the models each serves, a request sent meanwhile shows up in
 * the traffic view, an instance's log lines on another node open on click, and a killed
 * node turns stale within 3 heartbeats. Screenshots go to test-results/ (git-ignored).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { createFakeNvidiaSmi, fakeGpu, type FakeNvidiaSmi } from '../fixtures/fake-nvidia-smi.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { ROOT, startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) console.warn(`dashboard browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`)

const KEY = 'dashboard-test-key'
const GOSSIP_MS = 1000
const ARTIFACTS = join(ROOT, 'test-results')

let dir: string
let model: string
let browser: Browser | undefined
/** Node b plays a GPU node: a fake nvidia-smi shows its llama-servers (of the model file under gpu-b/) holding VRAM beside another process. */
let smi: FakeNvidiaSmi | undefined
let gpuModel: string
const GPU_HERD_MB = 1200
const nodes: HerdProcess[] = []
const byName = new Map<string, HerdProcess>()
const auth = { authorization: `Bearer ${KEY}` }

const only = (name: string, file = model) => ({ models: [{ name, profiles: [{ id: 'default', model_path: file, llama_server_args: '-c 512 -t 1' }] }] })

async function node(name: string, peers: string[], config: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<HerdProcess> {
  const h = await startHerd({
    cookbook: only(`only-${name}`, name === 'b' ? gpuModel : model),
    env,
    config: {
      node: { name },
      http: { api_keys: [KEY] },
      mesh: loopbackMesh(join(dir, 'cluster.key'), peers, { gossip_interval_ms: GOSSIP_MS, peer_timeout_ms: 5000 }),
      ...config,
    },
  })
  nodes.push(h)
  byName.set(name, h)
  return h
}

async function address(h: HerdProcess): Promise<string> {
  const res = await fetch(`${h.url}/cluster/nodes`, { headers: auth })
  const { nodes: list } = (await res.json()) as { nodes: { self: boolean; addrs: string[] }[] }
  const addr = list.find((n) => n.self)?.addrs[0]
  if (addr === undefined) throw new Error('no mesh address')
  return addr
}

async function newPage(): Promise<Page> {
  if (browser === undefined) throw new Error('no browser')
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.on('pageerror', (err) => console.error('page error:', err.message))
  return page
}

const nodeNames = (page: Page): Promise<string[]> => page.$$eval('#nodes .node', (els) => els.map((e) => e.getAttribute('data-node') ?? '').sort())

describe.skipIf(!hasChromium)('the dashboard in chromium', () => {
  let a: HerdProcess
  let page: Page

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-dashboard-'))
    model = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
    await mkdir(join(dir, 'gpu-b'))
    gpuModel = (await writeTinyGguf(join(dir, 'gpu-b', 'tiny.gguf'))).path
    smi = await createFakeNvidiaSmi({ gpus: [fakeGpu(0, 24_576, 5_120)], track: { cmdlineIncludes: join(dir, 'gpu-b'), usedMemoryMb: GPU_HERD_MB } })
    await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
    await mkdir(ARTIFACTS, { recursive: true })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    })
    a = await node('a', [])
    const addr = await address(a)
    await Promise.all([node('b', [addr], { resources: { nvidia_smi: smi.path, sample_interval_ms: 200 } }, smi.env), node('c', [addr])])
    page = await newPage()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    browser = undefined
    await Promise.all(nodes.splice(0).map((n) => n.dispose()))
    await smi?.cleanup()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('shows only the login form without a key, and an error and nothing else for a wrong key', async () => {
    // The data routes themselves refuse: the gate is not the page's alone.
    expect((await fetch(`${a.url}/cluster/nodes`)).status).toBe(401)
    expect((await fetch(`${a.url}/admin/logs`)).status).toBe(401)
    const shell = await fetch(`${a.url}/`)
    expect(shell.status).toBe(200)
    expect(shell.headers.get('content-security-policy')).toContain("default-src 'none'")

    await page.goto(a.url)
    await page.waitForSelector('#login-form', { state: 'visible' })
    expect(await page.isVisible('#dashboard')).toBe(false)
    expect(await page.$$('#nodes .node')).toHaveLength(0)

    await page.fill('#login-key', 'wrong-key')
    await page.click('#login-form button[type=submit]')
    await page.waitForSelector('#login-error', { state: 'visible' })
    expect(await page.textContent('#login-error')).toContain('refused')
    expect(await page.isVisible('#dashboard')).toBe(false)
    expect(await page.$$('#nodes .node, #models tr')).toHaveLength(0)
    expect(await page.evaluate(() => sessionStorage.getItem('herd.key'))).toBeNull()
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-login.png') })
  })

  it('lists all three nodes and the models each serves once the key is given', async () => {
    await page.fill('#login-key', KEY)
    await page.click('#login-form button[type=submit]')
    await page.waitForSelector('#dashboard', { state: 'visible' })
    expect(await page.isVisible('#login')).toBe(false)
    expect(await page.evaluate(() => sessionStorage.getItem('herd.key'))).toBe(KEY)
    await waitFor(
      'three fresh nodes on the page',
      async () => (await nodeNames(page)).join() === 'a,b,c' && (await page.$$('#nodes .node.stale')).length === 0,
      {
        timeoutMs: 15_000,
        intervalMs: 100,
      },
    )
    const served = await page.$$eval('#models tr.model-row', (rows) => rows.map((r) => `${r.getAttribute('data-model')}@${r.getAttribute('data-node')}`).sort())
    expect(served).toEqual(['only-a:default@a', 'only-b:default@b', 'only-c:default@c'])
    // Every node card has its system memory bar; b, the GPU node, one for its GPU too.
    expect(await page.$$eval('#nodes .node', (cards) => cards.map((c) => c.querySelectorAll('.bar').length))).toEqual([1, 2, 1])
  })

  it('shows a request sent meanwhile in the traffic view, and its instance on the serving node', async () => {
    const before = await page.textContent('.traffic-node[data-node="a"] .rps')
    expect(before).toBe('0.00')
    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'only-b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-node')).toBe('b')
    await res.text()
    const started = Date.now()
    // Counted on a (the client's node), tokens on b (where they were generated); both within 2 s of gossip and polling.
    await page.waitForFunction(() => document.querySelector('.traffic-node[data-node="a"] .rps')?.textContent !== '0.00', undefined, { timeout: 10_000 })
    await page.waitForFunction(() => document.querySelector('.traffic-node[data-node="b"] .tps')?.textContent !== '0.00', undefined, { timeout: 10_000 })
    await page.waitForSelector('.traffic-model[data-model="only-b:default"]', { timeout: 10_000 })
    await page.waitForSelector('tr.model-row[data-model="only-b:default"] .instance', { timeout: 10_000 })
    console.log(`traffic visible on the page ${Date.now() - started} ms after the answer`)
    // A little more traffic on every model, so the screenshot has something in each chart.
    for (const name of ['only-a', 'only-c', 'only-b', 'only-a']) {
      const more = await fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ model: name, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 16 }),
      })
      expect(more.status).toBe(200)
      await more.text()
    }
    await page.waitForSelector('.traffic-model[data-model="only-c:default"]', { timeout: 10_000 })
    await page.waitForSelector('tr.model-row[data-model="only-c:default"] .instance', { timeout: 10_000 })
    // b's GPU bar splits herd's llama-server from the other process and the free rest.
    await page.waitForFunction(
      (mb) =>
        [...document.querySelectorAll('#nodes .node[data-node="b"] .mem')].some(
          (m) => m.textContent?.includes('GPU 0') && m.textContent.includes(`herd ${(mb / 1024).toFixed(1)} GiB`),
        ),
      GPU_HERD_MB,
      { timeout: 10_000 },
    )
    const gpuLabel = await page.textContent('#nodes .node[data-node="b"] .mem')
    expect(gpuLabel).toContain('other 5.0 GiB')
    expect(gpuLabel).toContain('free 17.8 GiB of 24.0 GiB')
    const instance = await page.textContent('tr.model-row[data-model="only-b:default"] .instance')
    expect(instance).toMatch(/ready · [0-4]\/4 slots/)
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    const phone = await browser!.newPage({ viewport: { width: 390, height: 844 }, isMobile: true })
    await phone.goto(a.url)
    await phone.evaluate((k) => sessionStorage.setItem('herd.key', k), KEY)
    await phone.reload()
    await phone.waitForSelector('#nodes .node[data-node="c"]')
    await phone.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true })
    await phone.close()
  }, 90_000) // five requests, three of them cold starts of llama-server, and a phone page: each wait is bounded at 10 s on its own

  it('opens the log lines of an instance on another node, fetched over the mesh', async () => {
    await page.click('tr.model-row[data-model="only-b:default"] .instance button')
    await page.waitForSelector('#logs', { state: 'visible' })
    await page.waitForFunction(() => !['', 'loading…'].includes(document.querySelector('#logs-body')?.textContent ?? ''), undefined, { timeout: 10_000 })
    const text = (await page.textContent('#logs-body')) ?? ''
    expect(text).not.toContain('could not read')
    expect(text).toMatch(/llama|server|model/i)
    expect(await page.textContent('#logs-title')).toContain('on b')
    await page.click('#logs-close')
  })

  it('unloads a model on another node from its button, over the mesh', async () => {
    await page.click('tr.model-row[data-model="only-b:default"] button:text("Unload")')
    await page.waitForFunction(() => document.querySelector('#action-status')?.textContent?.startsWith('stopped'), undefined, { timeout: 15_000 })
    expect(await page.textContent('#action-status')).toBe('stopped 1 instance(s) of only-b:default on b')
    await page.waitForFunction(() => document.querySelector('tr.model-row[data-model="only-b:default"] .instances')?.textContent === 'not loaded', undefined, {
      timeout: 10_000,
    })
  })

  it('marks a killed node stale within 3 heartbeats', async () => {
    const c = byName.get('c')!
    const killed = Date.now()
    c.child.kill('SIGKILL')
    await page.waitForSelector('#nodes .node.stale[data-node="c"]', { timeout: 3 * GOSSIP_MS + 2000 })
    const ms = Date.now() - killed
    console.log(`node c shown stale ${ms} ms after SIGKILL (heartbeat ${GOSSIP_MS} ms)`)
    expect(ms).toBeLessThanOrEqual(3 * GOSSIP_MS)
    expect(await page.$$('#nodes .node.stale')).toHaveLength(1)
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-stale.png'), fullPage: true })
  })
})

describe.skipIf(!hasChromium)('the dashboard without keys', () => {
  let solo: HerdProcess | undefined
  afterAll(async () => {
    await browser?.close()
    browser = undefined
    await solo?.dispose()
  })

  it('opens straight onto the data, with no login', async () => {
    const home = await mkdtemp(join(tmpdir(), 'herd-dashboard-solo-'))
    const file = (await writeTinyGguf(join(home, 'tiny.gguf'))).path
    solo = await startHerd({
      home,
      cookbook: { models: [{ name: 'solo', profiles: [{ id: 'default', model_path: file, llama_server_args: '-c 512 -t 1' }] }] },
      config: { node: { name: 'solo' } },
    })
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
    const page = await newPage()
    await page.goto(solo.url)
    await page.waitForSelector('#nodes .node[data-node="solo"]')
    expect(await page.isVisible('#login')).toBe(false)
    expect(await page.$$eval('#models tr.model-row', (rows) => rows.map((r) => r.getAttribute('data-model')))).toEqual(['solo:default'])
    await page.close()
    await solo.dispose()
    await rm(home, { recursive: true, force: true })
    solo = undefined
  })
})
