/** The status a keep-alive frame may carry: small, a kind and a count, and anything else is ignored rather than trusted. */
import { describe, expect, it } from 'vitest'
import { MAX_WAIT_STATE_BYTES, encodeWaitState, parseWaitState } from '../../src/mesh/forward-messages.ts'

const bytes = (value: unknown): Uint8Array => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))

describe('a keep-alive status', () => {
  it('round-trips each kind', () => {
    for (const state of [{ kind: 'waiting' }, { kind: 'loading' }, { kind: 'queued', ahead: 7 }] as const)
      expect(parseWaitState(encodeWaitState(state))).toEqual(state)
  })

  it('sends only the kind and the count, whatever else the status holds', () => {
    const wire = encodeWaitState({ kind: 'loading', model: 'secret:model', node: 'n' } as never)
    expect(Buffer.from(wire).toString()).toBe('{"kind":"loading"}')
  })

  it('drops what a peer adds beyond the kind and the count', () => {
    expect(parseWaitState(bytes({ kind: 'queued', ahead: 1, text: 'evil\n\ndata: x' }))).toEqual({ kind: 'queued', ahead: 1 })
  })

  it('ignores an empty payload (an older node), a large one, bad JSON, an unknown kind or a bad count', () => {
    expect(parseWaitState(new Uint8Array(0))).toBeUndefined()
    expect(parseWaitState(bytes({ kind: 'loading', pad: 'x'.repeat(MAX_WAIT_STATE_BYTES) }))).toBeUndefined()
    expect(parseWaitState(bytes('{"kind":'))).toBeUndefined()
    expect(parseWaitState(bytes({ kind: 'exploding' }))).toBeUndefined()
    expect(parseWaitState(bytes({ kind: 'queued', ahead: -1 }))).toBeUndefined()
    expect(parseWaitState(bytes({ kind: 'queued', ahead: 1.5 }))).toBeUndefined()
    expect(parseWaitState(bytes({ kind: 'queued', ahead: 1e12 }))).toBeUndefined()
    expect(parseWaitState(bytes({ kind: 'queued' }))).toBeUndefined()
  })
})
