import { describe, expect, it } from 'vitest'
import { ANONYMOUS_SCOPE, cacheKey, canonicalJson, isEligible, keyScope, parseCacheMode, type KeyParts } from '../../src/cache/index.ts'

const parts = (over: Partial<KeyParts> = {}): KeyParts => ({
  scope: 's',
  endpoint: 'chat',
  models: ['tiny:default'],
  stream: false,
  body: { messages: [{ role: 'user', content: 'hi' }], temperature: 0 },
  ...over,
})

describe('canonical keys', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}')
    const a = cacheKey(parts({ body: { temperature: 0, messages: [{ content: 'hi', role: 'user' }] } }))
    expect(a).toBe(cacheKey(parts()))
    expect(
      cacheKey(
        parts({
          body: {
            messages: [
              { role: 'user', content: 'b' },
              { role: 'user', content: 'a' },
            ],
          },
        }),
      ),
    ).not.toBe(
      cacheKey(
        parts({
          body: {
            messages: [
              { role: 'user', content: 'a' },
              { role: 'user', content: 'b' },
            ],
          },
        }),
      ),
    )
  })

  it('leaves out model, user, metadata and stream_options on a request that does not stream', () => {
    const base = cacheKey(parts())
    const body = {
      ...parts().body,
      model: 'gpt-4o-mini',
      user: 'alice',
      safety_identifier: 'x',
      metadata: { user_id: 'u' },
      stream: false,
      stream_options: { include_usage: true },
    }
    expect(cacheKey(parts({ body }))).toBe(base)
  })

  it('counts stream, and stream_options on a streamed request', () => {
    const streamed = cacheKey(parts({ stream: true }))
    expect(streamed).not.toBe(cacheKey(parts()))
    expect(cacheKey(parts({ stream: true, body: { ...parts().body, stream_options: { include_usage: true } } }))).not.toBe(streamed)
  })

  it('differs by resolved model, alternatives, endpoint, scope and any other field', () => {
    const base = cacheKey(parts())
    expect(cacheKey(parts({ models: ['tiny:long'] }))).not.toBe(base)
    expect(cacheKey(parts({ models: ['tiny:default', 'other:default'] }))).not.toBe(base)
    expect(cacheKey(parts({ endpoint: 'completions' }))).not.toBe(base)
    expect(cacheKey(parts({ scope: 't' }))).not.toBe(base)
    expect(cacheKey(parts({ body: { ...parts().body, max_tokens: 8 } }))).not.toBe(base)
  })
})

describe('eligibility', () => {
  const chat = (extra: Record<string, unknown>) => ({ messages: [], ...extra })

  it('takes temperature 0 or an integer seed, not other sampling', () => {
    expect(isEligible('chat', chat({ temperature: 0 }), 'default')).toBe(true)
    expect(isEligible('chat', chat({ seed: 42, temperature: 0.8 }), 'default')).toBe(true)
    expect(isEligible('chat', chat({}), 'default')).toBe(false)
    expect(isEligible('chat', chat({ temperature: 0.7 }), 'default')).toBe(false)
    expect(isEligible('chat', chat({ seed: 1.5 }), 'default')).toBe(false)
    expect(isEligible('messages', { messages: [], temperature: 0 }, 'default')).toBe(true)
  })

  it('takes embeddings always, and any cached endpoint with x-herd-cache: use', () => {
    expect(isEligible('embeddings', { input: 'x' }, 'default')).toBe(true)
    expect(isEligible('chat', chat({ temperature: 1 }), 'use')).toBe(true)
    expect(isEligible('tokenize', { content: 'x' }, 'use')).toBe(false)
    expect(isEligible('infill', { temperature: 0 }, 'default')).toBe(false)
  })

  it('takes nothing with x-herd-cache: off', () => {
    expect(isEligible('chat', chat({ temperature: 0 }), 'off')).toBe(false)
    expect(isEligible('embeddings', { input: 'x' }, 'off')).toBe(false)
  })

  it('reads the header case-insensitively and refuses other values', () => {
    expect(parseCacheMode(undefined)).toBe('default')
    expect(parseCacheMode(' USE ')).toBe('use')
    expect(parseCacheMode('off')).toBe('off')
    expect(() => parseCacheMode('of')).toThrow(expect.objectContaining({ code: 'invalid_request', param: 'x-herd-cache' }))
  })
})

describe('key scope', () => {
  it('is the SHA-256 of the presented key, the same from either header', () => {
    const bearer = keyScope({ authorization: 'Bearer sk-1' })
    expect(bearer).toMatch(/^[0-9a-f]{64}$/)
    expect(keyScope({ 'x-api-key': 'sk-1' })).toBe(bearer)
    expect(keyScope({ authorization: 'bearer sk-1', 'x-api-key': 'sk-1' })).toBe(bearer)
    expect(keyScope({ authorization: 'Bearer sk-2' })).not.toBe(bearer)
    expect(keyScope({ authorization: 'Bearer sk-1', 'x-api-key': 'sk-2' })).not.toBe(bearer)
  })

  it('is anonymous without a key', () => {
    expect(keyScope({})).toBe(ANONYMOUS_SCOPE)
    expect(keyScope({ authorization: 'Basic abc' })).toBe(ANONYMOUS_SCOPE)
  })
})
