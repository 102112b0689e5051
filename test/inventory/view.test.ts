/** The gossiped inventory (its size, its schema) and the mesh-wide /cluster/inventory built from states. */
import { describe, expect, it } from 'vitest'
import type { InventoryState, NodeState } from '../../src/mesh/index.ts'
import { MAX_GOSSIP_INVENTORY, parseNodeState } from '../../src/mesh/state-schema.ts'
import { clusterInventory, inventoryState, type InventoryItem } from '../../src/inventory/index.ts'
import { render } from '../../src/cli/inventory.ts'
import { profile } from '../api/helpers.ts'

const item: InventoryItem = {
  source: 'model_dirs',
  facts: {
    file: 'Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf',
    architecture: 'llama',
    parameters: 8_030_261_248,
    quantization: 'Q4_K_M',
    contextLength: 131072,
    sizeBytes: 4_920_739_232,
    parts: 1,
    mmproj: null,
  },
  context: 32768,
  estimate: { vramMb: 9_210, sysmemMb: 850 },
}

function state(name: string, over: Partial<NodeState> = {}): NodeState {
  return {
    id: `peer-${name}`,
    name,
    herdVersion: '1',
    llamaVersion: null,
    startedAt: 0,
    seq: 1,
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1000, freeMb: 500 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 500 },
    models: [],
    peers: [],
    ...over,
  }
}

function model(id: string, instances = 0): NodeState['models'][number] {
  const [m = id, p = 'default'] = id.split(':')
  return {
    id,
    model: m,
    profile: p,
    names: [m],
    capabilities: { completion: true, embeddings: false, rerank: false },
    instances,
    readyInstances: instances,
    slotsTotal: 4 * instances,
    slotsBusy: 0,
    queueLength: 0,
    maxInstances: 1,
    maxQueueSize: 64,
    tokensPerSecond: null,
    estimatedVramMb: 9_500,
    estimatedSysmemMb: 900,
    canFitNow: true,
    canFitAfterEviction: true,
  }
}

describe('the gossiped inventory', () => {
  const p = profile('meta-llama-3.1-8b-instruct:default', { launchHash: 'h1' })
  const entries = inventoryState({
    profiles: () => [p, profile('hf-only:default', { modelPath: undefined })],
    item: (id) => (id === p.id ? item : undefined),
    learned: () => ({ vramMb: 9_600, rssMb: 910, profileId: p.id, samples: 3, updatedAt: 0 }),
  })

  it('lists the profiles whose file is here, with facts, chosen context, estimate and learned memory', () => {
    expect(entries).toEqual([
      {
        id: p.id,
        source: 'model_dirs',
        ...item.facts,
        context: 32768,
        estimateVramMb: 9_210,
        estimateSysmemMb: 850,
        learnedVramMb: 9_600,
        learnedSysmemMb: 910,
      },
    ])
  })

  it('costs under 400 bytes of JSON a model (an 8B model with a long file name: 358)', () => {
    const bytes = Buffer.byteLength(JSON.stringify(entries[0]))
    // Printed for the report: what each model adds to every heartbeat.
    console.log(`inventory gossip: ${bytes} bytes for one model entry (${JSON.stringify(entries[0])})`)
    expect(bytes).toBeLessThan(400)
  })

  it('passes the state schema, and a state listing more than the cap is dropped whole', () => {
    const ok = parseNodeState(JSON.stringify(state('a', { inventory: entries })))
    expect(ok).not.toBeInstanceOf(Error)
    expect((ok as NodeState).inventory).toEqual(entries)
    const entry = entries[0] as InventoryState
    const many = Array.from({ length: MAX_GOSSIP_INVENTORY + 1 }, (_, i) => ({ ...entry, id: `m${i}:default` }))
    expect(parseNodeState(JSON.stringify(state('a', { inventory: many })))).toBeInstanceOf(Error)
    expect(parseNodeState(JSON.stringify(state('a', { inventory: [{ ...entry, file: 'x'.repeat(256) }] })))).toBeInstanceOf(Error)
    expect(parseNodeState(JSON.stringify(state('a', { inventory: [{ ...entry, parameters: -1 }] })))).toBeInstanceOf(Error)
    // herd inventory prints file names: a peer's terminal escape is refused.
    expect(parseNodeState(JSON.stringify(state('a', { inventory: [{ ...entry, file: 'x\u001b[2J.gguf' }] })))).toBeInstanceOf(Error)
  })
})

describe('clusterInventory', () => {
  const entry = (id: string, over: Partial<InventoryState> = {}): InventoryState => ({ id, source: 'cookbook', ...item.facts, ...over })
  const a = state('a', {
    models: [model('llama:default'), model('hf:default')],
    inventory: [entry('llama:default', { learnedSysmemMb: 950, learnedVramMb: null })],
  })
  const b = state('b', {
    models: [model('llama:default', 1)],
    inventory: [entry('llama:default', { source: 'model_dirs', context: 8192, estimateVramMb: 9000, estimateSysmemMb: 800 })],
    backends: [
      {
        name: 'cloud',
        protocol: 'openai',
        egress: true,
        health: 'up',
        circuit: 'closed',
        inUse: 2,
        maxConcurrency: 8,
        queueLength: 0,
        maxQueueSize: 64,
        models: [{ id: 'cloud/gpt', model: 'gpt', names: [] }],
      },
    ],
  })
  const view = clusterInventory([
    { id: a.id, name: 'a', self: true, fresh: true, state: a },
    { id: b.id, name: 'b', self: false, fresh: true, state: b },
  ])

  it('joins every node: facts once, who has the file, who serves it, memory per node', () => {
    expect(view.models.map((m) => m.id)).toEqual(['hf:default', 'llama:default'])
    const llama = view.models[1]
    expect(llama).toMatchObject({
      architecture: 'llama',
      parameters: 8_030_261_248,
      quantization: 'Q4_K_M',
      context_length: 131072,
      size_bytes: 4_920_739_232,
      file: 'Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf',
      nodes_with_file: ['a', 'b'],
      nodes_serving: ['b'],
    })
    expect(llama?.nodes.map((n) => [n.node, n.source, n.context, n.estimate, n.learned])).toEqual([
      ['a', 'cookbook', null, null, { vram_mb: null, sysmem_mb: 950 }],
      ['b', 'model_dirs', 8192, { vram_mb: 9000, sysmem_mb: 800 }, null],
    ])
    // A profile without a local file (an -hf download) is listed, without facts and without a file anywhere.
    expect(view.models[0]).toMatchObject({ architecture: null, nodes_with_file: [], nodes: [{ node: 'a', has_file: false }] })
  })

  it('lists external backend models with the nodes that hold them', () => {
    expect(view.backends).toEqual([
      {
        id: 'cloud/gpt',
        backend: 'cloud',
        model: 'gpt',
        protocol: 'openai',
        egress: true,
        nodes: [{ node: 'b', id: 'peer-b', fresh: true, health: 'up', circuit: 'closed', in_use: 2, max_concurrency: 8 }],
      },
    ])
  })

  it('prints as the herd inventory tables', () => {
    const text = render(view)
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^MODEL\s+ARCH\s+PARAMS\s+QUANT\s+CTX\s+SIZE\s+FILE ON\s+SERVING\s+ESTIMATE MB\s+LEARNED MB$/)
    expect(text).toMatch(/llama:default\s+llama\s+8\.0B\s+Q4_K_M\s+131072\s+4\.6 GiB\s+a,b\s+b\s+9000\+800\s+950/)
    expect(text).toMatch(/cloud\/gpt\s+openai\s+yes\s+b\(up, 2\/8\)/)
  })
})
