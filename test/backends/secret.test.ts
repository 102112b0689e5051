/** A Secret prints as [redacted] through every road a value takes to a log line or an answer. */
import { inspect, format } from 'node:util'
import { describe, expect, it } from 'vitest'
import { REDACTED, Secret } from '../../src/config/index.ts'
import { capture } from './helpers.ts'

const KEY = 'sk-live-do-not-print-me'

describe('Secret', () => {
  const s = new Secret(KEY)
  const holder = { backend: 'b', apiKey: s, headers: { 'x-org': new Secret('org-secret-value') } }

  it('gives its text only through reveal()', () => {
    expect(s.reveal()).toBe(KEY)
  })

  it.each([
    ['JSON.stringify', () => JSON.stringify(holder)],
    ['String()', () => String(s)],
    ['a template string', () => `key=${s}`],
    ['string concatenation', () => 'key=' + s],
    ['util.inspect', () => inspect(holder, { depth: 5 })],
    ['util.format %o', () => format('%o %s %j', holder, s, holder)],
    ['Object.entries', () => JSON.stringify(Object.entries(s))],
    ['a spread', () => JSON.stringify({ ...s })],
    ['structuredClone', () => JSON.stringify(structuredClone({ ...holder, apiKey: { ...s } }))],
    ['an error message', () => new Error(`failed with ${s}`).message],
  ])('never shows the key through %s', (_name, render) => {
    const out = render()
    expect(out).not.toContain(KEY)
    expect(out).not.toContain('org-secret-value')
  })

  it('prints [redacted] in pino lines, also nested and in errors', () => {
    const log = capture()
    log.logger.info({ holder, err: new Error(`boom ${s}`) }, `message ${s}`)
    expect(log.text()).not.toContain(KEY)
    expect(log.text()).toContain(REDACTED)
  })

  it('compares by content', () => {
    expect(s.equals(new Secret(KEY))).toBe(true)
    expect(s.equals(new Secret('other'))).toBe(false)
    expect(s.equals(undefined)).toBe(false)
  })
})
