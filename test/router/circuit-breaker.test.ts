import { describe, expect, it } from 'vitest'
import { CircuitBreakers } from '../../src/router/index.ts'

describe('circuit breaker', () => {
  function breakers() {
    let now = 0
    const b = new CircuitBreakers({ threshold: 2, baseBackoffMs: 100, maxBackoffMs: 400, now: () => now })
    return { b, advance: (ms: number) => (now += ms) }
  }

  it('opens after consecutive failures and lets one probe through when the backoff elapses', () => {
    const { b, advance } = breakers()
    b.failure('p')
    expect(b.allow('p')).toBe(true)
    b.failure('p')
    expect(b.get('p').state).toBe('open')
    expect(b.allow('p')).toBe(false)
    advance(100)
    expect(b.get('p').state).toBe('half-open')
    expect(b.allow('p')).toBe(true)
    b.attempt('p')
    expect(b.allow('p')).toBe(false)
  })

  it('doubles the backoff when a probe fails, up to the cap', () => {
    const { b, advance } = breakers()
    b.failure('p')
    b.failure('p')
    for (const expected of [200, 400, 400]) {
      advance(1000)
      b.attempt('p')
      b.failure('p')
      const c = b.get('p')
      expect(c.state === 'open' && c.backoffMs).toBe(expected)
    }
  })

  it('closes on success and resets the failure count', () => {
    const { b, advance } = breakers()
    b.failure('p')
    b.failure('p')
    advance(100)
    b.attempt('p')
    b.success('p')
    expect(b.get('p')).toEqual({ state: 'closed', failures: 0 })
    b.failure('p')
    expect(b.allow('p')).toBe(true)
  })
})
