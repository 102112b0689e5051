/**
 * `/metrics` of a live daemon, after real traffic through the real llama-server, passes
 * Prometheus's own linter (`promtool check metrics`, Debian's `prometheus` package, which
 * .ci/run installs when missing).
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'

let herd: HerdProcess | undefined

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'herd-e2e-model-'))
  const model = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
  herd = await startHerd({ cookbook: { models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: model }] }] } })
})

afterAll(async () => {
  await herd?.dispose()
})

function promtool(input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, output }))
    child.stdin.end(input)
  })
}

describe('/metrics', () => {
  it('passes promtool check metrics with a model loaded and requests counted', async () => {
    // Fail, not skip, without promtool: a green run must mean the check ran.
    expect(() => execFileSync('promtool', ['--version'], { stdio: 'ignore' }), 'promtool is missing: apt-get install prometheus').not.toThrow()
    const h = herd as HerdProcess
    const chat = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    })
    expect(chat.status).toBe(200)
    await chat.arrayBuffer()
    await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', body: '{' }).then((r) => r.arrayBuffer())
    const text = await (await fetch(`${h.url}/metrics`)).text()
    expect(text).toContain('herd_slots{model="tiny:default"}')
    expect(text).toContain('herd_requests_total{')
    const { code, output } = await promtool(text)
    expect(output).toBe('')
    expect(code).toBe(0)
  })
})
