import { getEventListeners } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { pastDeadline, startDeadline } from '../../src/router/deadline.ts'

describe('request deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('aborts with upstream_timeout once the limit has passed since the request arrived', () => {
    const client = new AbortController()
    const receivedAt = performance.now()
    vi.advanceTimersByTime(40)
    const d = startDeadline({ limitMs: 100, receivedAt, signal: client.signal, profileId: 'tiny:default' })
    vi.advanceTimersByTime(59)
    expect(d.signal.aborted).toBe(false)
    vi.advanceTimersByTime(1)
    expect(d.signal.aborted).toBe(true)
    expect(d.timedOut).toMatchObject({ code: 'upstream_timeout', status: 504 })
    expect(d.timedOut?.message).toContain('max_request_duration_ms (100 ms)')
    expect(d.signal.reason).toBe(d.timedOut)
    expect(pastDeadline(receivedAt, 100)).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(0)
  })

  it('is aborted at once when the time was used up before it started', () => {
    const receivedAt = performance.now()
    vi.advanceTimersByTime(150)
    const d = startDeadline({ limitMs: 100, receivedAt, signal: new AbortController().signal, profileId: 'p' })
    expect(d.timedOut?.code).toBe('upstream_timeout')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('passes on the client abort with its own reason, and stops its timer', () => {
    const client = new AbortController()
    const d = startDeadline({ limitMs: 100, receivedAt: undefined, signal: client.signal, profileId: 'p' })
    const why = new Error('client disconnected')
    client.abort(why)
    expect(d.signal.reason).toBe(why)
    expect(d.timedOut).toBeUndefined()
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(200)
    expect(d.timedOut).toBeUndefined()
  })

  it('leaves no timer and no listener behind once cleared', () => {
    const client = new AbortController()
    const d = startDeadline({ limitMs: 100, receivedAt: performance.now(), signal: client.signal, profileId: 'p' })
    expect(vi.getTimerCount()).toBe(1)
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(1)
    d.clear()
    d.clear()
    expect(vi.getTimerCount()).toBe(0)
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(0)
    vi.advanceTimersByTime(200)
    expect(d.signal.aborted).toBe(false)
  })

  it('without a limit is the client signal itself, with no timer', () => {
    const client = new AbortController()
    const d = startDeadline({ limitMs: undefined, receivedAt: performance.now(), signal: client.signal, profileId: 'p' })
    expect(d.signal).toBe(client.signal)
    expect(vi.getTimerCount()).toBe(0)
    expect(pastDeadline(0, undefined)).toBe(false)
    expect(pastDeadline(undefined, 1)).toBe(false)
  })
})
