/** Backends in gossiped states: additive (older states without them still parse), capped, and carrying no credential or URL. */
import { describe, expect, it } from 'vitest'
import { MAX_GOSSIP_BACKEND_MODELS, MAX_GOSSIP_BACKENDS, parseNodeState } from '../../src/mesh/state-schema.ts'
import type { BackendState } from '../../src/mesh/types.ts'
import { validState } from './fixtures/raw-peer.ts'

const ID = '12D3KooWCTjeiuTGq9E1Ap7CCAkz7YNThV5ynqyjwxTSwifcnUoH'

function backend(name: string, models = 1, over: Partial<BackendState> = {}): BackendState {
  return {
    name,
    protocol: 'openai',
    egress: false,
    health: 'up',
    circuit: 'closed',
    inUse: 0,
    maxConcurrency: 32,
    queueLength: 0,
    maxQueueSize: 64,
    models: Array.from({ length: models }, (_, i) => ({ id: `${name}/m${i}`, model: `m${i}`, names: [] })),
    ...over,
  }
}

const parse = (backends: unknown): ReturnType<typeof parseNodeState> => parseNodeState(JSON.stringify({ ...validState(ID), backends }))

describe('backends in gossip', () => {
  it('parses a state with backends, and one from a node that predates them', () => {
    const state = parse([backend('office', 2)])
    expect(state).not.toBeInstanceOf(Error)
    expect((state as { backends?: BackendState[] }).backends?.[0]?.models[1]?.id).toBe('office/m1')
    expect(parseNodeState(JSON.stringify(validState(ID)))).not.toBeInstanceOf(Error)
  })

  it(`drops a state with more than ${MAX_GOSSIP_BACKENDS} backends or ${MAX_GOSSIP_BACKEND_MODELS} backend models in all`, () => {
    expect(parse(Array.from({ length: MAX_GOSSIP_BACKENDS + 1 }, (_, i) => backend(`b${i}`)))).toBeInstanceOf(Error)
    expect(parse([backend('a', 600), backend('b', 600)])).toBeInstanceOf(Error)
    expect(parse([backend('a', 512), backend('b', 512)])).not.toBeInstanceOf(Error)
  })

  it('drops a state whose backend is malformed', () => {
    expect(parse([backend('a', 1, { health: 'great' as 'up' })])).toBeInstanceOf(Error)
    expect(parse([{ ...backend('a'), name: 'x'.repeat(600) }])).toBeInstanceOf(Error)
    expect(parse([{ ...backend('a'), models: [{ id: 'a/m' }] }])).toBeInstanceOf(Error)
  })
})
