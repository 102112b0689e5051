import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ANTHROPIC_MESSAGES_FIELDS, DEFAULT_ANTHROPIC_MAX_TOKENS, MAX_SSE_EVENT_BYTES, OPENAI_CHAT_FIELDS } from '../../src/protocols/index.ts'

const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8')
const section = spec.slice(spec.indexOf('### Protocol conversion'), spec.indexOf('## 5. Errors'))

describe('SPEC.md "Protocol conversion"', () => {
  it.each([
    ['OpenAI', OPENAI_CHAT_FIELDS],
    ['Anthropic', ANTHROPIC_MESSAGES_FIELDS],
  ])('lists every top-level field of an %s request the converter has a rule for', (_protocol, rules) => {
    // `field`, `field: value` or `field.sub`, in code.
    const missing = Object.keys(rules).filter((field) => !new RegExp(`\`${field}[\`:. ]`).test(section))
    expect(missing).toEqual([])
  })

  it('states the default max_tokens and the event cap the code uses', () => {
    expect(section).toContain(`**${DEFAULT_ANTHROPIC_MAX_TOKENS}**`)
    expect(MAX_SSE_EVENT_BYTES).toBe(1024 * 1024)
    expect(section).toContain('1 MiB (`MAX_SSE_EVENT_BYTES`)')
  })
})
