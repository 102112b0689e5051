import { describe, expect, it } from 'vitest'
import { PendingCounter } from '../../src/router/pending.ts'

describe('pending counter', () => {
  it('counts sends against the state they were scored on and forgets them when a newer state arrives', () => {
    const p = new PendingCounter()
    p.add('a', 5)
    p.add('a', 5)
    expect(p.count('a', 5)).toBe(2)
    expect(p.count('b', 5)).toBe(0)
    expect(p.count('a', 6)).toBe(0)
    p.add('a', 6)
    expect(p.count('a', 6)).toBe(1)
  })
})
