import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ggufCommand } from '../../src/hardware/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough()
  const err = new PassThrough()
  let o = ''
  let e = ''
  out.on('data', (c: Buffer) => {
    o += c.toString()
  })
  err.on('data', (c: Buffer) => {
    e += c.toString()
  })
  const code = await ggufCommand(argv, out, err)
  return { code, out: o, err: e }
}

describe('herd gguf', () => {
  let dir: string
  let model: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-gguf-cmd-'))
    model = (await writeTinyGguf(join(dir, 'tiny.gguf'), { contextLength: 4096 })).path
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prints metadata and the estimate as text', async () => {
    const r = await run([model, '--ctx', '1024', '--parallel', '1'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^architecture\s+llama$/m)
    expect(r.out).toMatch(/^layers\s+2$/m)
    expect(r.out).toMatch(/^context\s+1024 \(1 slot, 1024 per slot\)$/m)
    expect(r.out).toMatch(/^kv cache\s+0\.50 MiB$/m)
    expect(r.out).toMatch(/^total\s+[\d.]+ MiB$/m)
  })

  it('prints machine-readable JSON with --json', async () => {
    const r = await run([model, '--json', '--ctx', '2048', '--parallel', '2'])
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.out) as Record<string, unknown> & { options: Record<string, unknown>; metadata: Record<string, unknown> }
    expect(doc.kv_bytes).toBe(2 * 2048 * 128 * 2)
    expect(doc.total_bytes).toBe((doc.weights_bytes as number) + (doc.kv_bytes as number) + (doc.compute_bytes as number))
    expect(doc.options).toMatchObject({ ctx: 2048, parallel: 2, ctx_per_slot: 1024, kv_unified: false })
    expect(doc.metadata).toMatchObject({ architecture: 'llama', block_count: 2, embedding_length: 64, context_length: 4096, gguf_version: 3 })
  })

  it('uses the trained context and llama-server’s default slots when not told', async () => {
    const doc = JSON.parse((await run([model, '--json'])).out) as { options: Record<string, unknown> }
    expect(doc.options).toMatchObject({ ctx: 4096, parallel: 4, kv_unified: true })
  })

  it('fails with exit code 1 and a clear message for a file that is not GGUF', async () => {
    const bad = join(dir, 'bad.gguf')
    await writeFile(bad, 'not a model')
    const r = await run([bad])
    expect(r).toMatchObject({ code: 1, out: '' })
    expect(r.err).toContain(`herd gguf: ${bad}: not a GGUF file`)
  })

  it('fails with exit code 2 and the usage for bad arguments', async () => {
    expect(await run([])).toMatchObject({ code: 2, err: expect.stringContaining('no GGUF file given') })
    expect(await run([model, '--ctx', 'many'])).toMatchObject({ code: 2, err: expect.stringContaining('--ctx expects a whole number, got "many"') })
    expect(await run([model, '--frobnicate'])).toMatchObject({ code: 2, err: expect.stringContaining('usage: herd gguf FILE') })
  })
})
