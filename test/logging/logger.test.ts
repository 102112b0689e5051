import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, isPretty } from '../../src/logging/index.ts'

/** A stream that collects what is written, posing as a terminal or not. */
function sink(isTTY: boolean): PassThrough & { isTTY: boolean; text(): string } {
  const chunks: Buffer[] = []
  const s = Object.assign(new PassThrough(), { isTTY, text: () => Buffer.concat(chunks).toString('utf8') })
  s.on('data', (c: Buffer) => chunks.push(c))
  return s
}

describe('the root logger', () => {
  it('writes JSON lines when the output is not a terminal, readable lines when it is', () => {
    expect(isPretty('auto', { isTTY: false })).toBe(false)
    expect(isPretty('auto', { isTTY: true })).toBe(true)
    expect(isPretty('json', { isTTY: true })).toBe(false)
    expect(isPretty('pretty', { isTTY: false })).toBe(true)
  })

  it('puts the node name on every JSON line, once', async () => {
    const out = sink(false)
    createLogger({ level: 'info', format: 'auto', node: 'box-1', destination: out }).info({ url: 'http://x' }, 'herd is serving')
    await new Promise((r) => setImmediate(r))
    const line = JSON.parse(out.text().trim()) as Record<string, unknown>
    expect(line).toMatchObject({ node: 'box-1', msg: 'herd is serving', url: 'http://x' })
  })

  it('writes readable lines with log_format: pretty', () => {
    const out = sink(false)
    createLogger({ level: 'info', format: 'pretty', node: 'box-1', destination: out }).warn({ peer: 'p1' }, 'peer silent too long')
    const text = out.text()
    expect(text).toContain('WARN')
    expect(text).toContain('peer silent too long')
    expect(text).toContain('peer: "p1"')
    expect(() => JSON.parse(text)).toThrow()
  })
})
