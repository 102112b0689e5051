/**
 * The `herd top` screen from fixed data: every frame is a pure function of the answer, the
 * terminal size and the clock, so the expected lines are written out.
 */
import { describe, expect, it } from 'vitest'
import { parseClusterNodes, renderTop, type TopSnapshot } from '../../src/cli/top/index.ts'
import { clock } from '../../src/cli/top/format.ts'

const NOW = Date.parse('2026-12-02T01:00:00Z')
const URL = 'http://10.0.0.1:8080'

const traffic = {
  windowSeconds: 60,
  requestsPerSecond: 2.5,
  tokensPerSecond: 312.4,
  ttfbP50Ms: 120,
  ttfbP99Ms: 850,
  errors: { queue_full: 2 },
  models: [{ id: 'qwen:default', requestsPerSecond: 2.5, tokensPerSecond: 312.4, ttfbP50Ms: 120, ttfbP99Ms: 850 }],
  history: { stepSeconds: 10, requests: [1, 2, 3, 0, 5, 8], tokens: [], ttfbP50Ms: [], ttfbP99Ms: [] },
}

function gpuBox(extra: Record<string, unknown> = {}) {
  return {
    id: '12D3KooWAAAA',
    name: 'gpu-box',
    self: true,
    status: 'ready',
    fresh: true,
    connected: true,
    age_ms: 0,
    seq: 41,
    started_at: '2026-12-01T22:00:00Z',
    circuit: null,
    resources: {
      gpus: [{ index: 0, uuid: 'GPU-1', name: 'NVIDIA H200', totalMb: 143360, usedMb: 40960, freeMb: 102400, herdMb: 30720 }],
      sysmem: { totalMb: 131072, freeMb: 65536, herdMb: 20480 },
      vramBudgetFreeMb: 100000,
      sysmemBudgetFreeMb: 60000,
    },
    models: [
      { id: 'qwen:default', readyInstances: 2, slotsBusy: 3, slotsTotal: 8, queueLength: 1, tokensPerSecond: 85.3, instances: 2 },
      { id: 'tiny:default', readyInstances: 0, slotsBusy: 0, slotsTotal: 0, queueLength: 0, tokensPerSecond: null },
    ],
    backends: [],
    traffic,
    ...extra,
  }
}

/** A peer last heard from 31 s ago, from a version that reports no traffic and no herdMb. */
const laptop = {
  id: '12D3KooWBBBB',
  name: 'laptop',
  self: false,
  status: 'ready',
  fresh: false,
  age_ms: 31_000,
  started_at: '2026-12-01T00:00:00Z',
  circuit: 'open',
  resources: { gpus: [], sysmem: { totalMb: 16384, freeMb: 4096 } },
  models: [{ id: 'tiny:default', readyInstances: 1, slotsBusy: 0, slotsTotal: 2, queueLength: 0, tokensPerSecond: 4000 }],
  backends: [{ name: 'openai', protocol: 'openai', health: 'up', circuit: 'closed', inUse: 1, maxConcurrency: 8, queueLength: 0 }],
}

function snapshot(answer: unknown, extra: Partial<TopSnapshot> = {}): TopSnapshot {
  return { url: URL, ...parseClusterNodes(answer), fetchedAt: NOW, error: null, ...extra }
}

const text = (s: TopSnapshot, width: number, height = 100): string[] => renderTop(s, { width, height, now: NOW, intervalMs: 1000 }).map((l) => l.text)

describe('the herd top screen', () => {
  it('lays out nodes, memory bars, models and backends on a wide terminal', () => {
    expect(text(snapshot({ nodes: [gpuBox(), laptop] }), 120)).toEqual([
      `herd top  ${URL}  2 nodes (1 stale)  ${clock(NOW)}`.padEnd(114) + 'q quit',
      '',
      'NODES',
      'NODE            STATUS  UPTIME  BEAT  CIRCUIT  REQ/S  TOK/S  TTFB P50/P99 MS  ERRORS        REQUESTS',
      'gpu-box (self)  ready    3h00m  0.0s  -          2.5    312          120/850  queue_full:2  .-=_+#',
      'laptop          stale    1d01h   31s  open         -      -                -  -             -',
      '',
      // laptop's older version does not split its used memory: its bar gets a mark of its own.
      'MEMORY  # herd  = other  | used  . free',
      'gpu-box  gpu0 NVIDIA H200  [############=====.........................................]  40.0/140.0G herd 30.0',
      'gpu-box  ram               [#########====================.............................]  64.0/128.0G herd 20.0',
      'laptop   ram               [||||||||||||||||||||||||||||||||||||||||||||..............]  12.0/16.0G',
      '',
      'MODELS',
      'MODEL         LOADED ON      READY  SLOTS  QUEUE  REQ/S  TOK/S  LEARNED TOK/S',
      'qwen:default  gpu-box(2)         2    3/8      1    2.5    312             85',
      'tiny:default  laptop(stale)      1    0/2      0      -      -           4000',
      '',
      'BACKENDS',
      'BACKEND  NODE    HEALTH  CIRCUIT  IN USE  QUEUE',
      'openai   laptop  up      closed      1/8      0',
    ])
  })

  it('drops the least useful columns and cuts names on a narrow terminal', () => {
    const lines = renderTop(snapshot({ nodes: [gpuBox(), laptop] }), { width: 60, height: 100, now: NOW })
    expect(lines.map((l) => l.text)).toEqual([
      `herd top  ${URL}  2 nodes (1 stale)  ${clock(NOW)}`,
      '',
      'NODES',
      'NODE            STATUS  UPTIME  BEAT  CIRCUIT  REQ/S  TOK/S',
      'gpu-box (self)  ready    3h00m  0.0s  -          2.5    312',
      'laptop          stale    1d01h   31s  open         -      -',
      '',
      'MEMORY  # herd  = other  | used  . free',
      'gpu-box  gpu0 NVIDIA H~  [##=.......]  40.0/140.0G herd 30.0',
      'gpu-box  ram             [##===.....]  64.0/128.0G herd 20.0',
      'laptop   ram             [||||||||..]  12.0/16.0G',
      '',
      'MODELS',
      'MODEL         LOADED ON      READY  SLOTS  QUEUE  REQ/S',
      'qwen:default  gpu-box(2)         2    3/8      1    2.5',
      'tiny:default  laptop(stale)      1    0/2      0      -',
      '',
      'BACKENDS',
      'BACKEND  NODE    HEALTH  CIRCUIT  IN USE  QUEUE',
      'openai   laptop  up      closed      1/8      0',
    ])
  })

  it('never draws past the terminal, whatever its size', () => {
    const s = snapshot({ nodes: [gpuBox({ name: 'a-node-with-a-very-long-name-indeed' }), laptop] }, { error: { message: 'x'.repeat(300), since: NOW - 1000 } })
    for (const [width, height] of [
      [1, 1],
      [20, 5],
      [30, 10],
      [45, 12],
      [80, 24],
      [200, 60],
    ] as const) {
      const lines = renderTop(s, { width, height, now: NOW })
      expect(lines.length).toBeLessThanOrEqual(height)
      for (const l of lines) expect(l.text.length).toBeLessThanOrEqual(width)
    }
  })

  it('renders - where a node reports no traffic, and a used/free bar where it does not split herd from others', () => {
    const { traffic: _, ...bare } = gpuBox()
    const gpu = { index: 0, uuid: 'GPU-1', name: 'RTX 4090', totalMb: 24576, usedMb: 12288, freeMb: 12288 }
    const lines = text(snapshot({ nodes: [{ ...bare, resources: { ...bare.resources, gpus: [gpu], sysmem: { totalMb: 131072, freeMb: 65536 } } }] }), 100)
    expect(lines).toContain('gpu-box (self)  ready    3h00m  0.0s  -            -      -                -  -       -')
    expect(lines).toContain('MEMORY  # used  . free')
    expect(lines).toContain('gpu-box  gpu0 RTX 4090  [#############################.............................]  12.0/24.0G')
    expect(lines).toContain('qwen:default  gpu-box(2)               2    3/8      1      -      -             85')
  })

  it('marks a stale node: its status, its rows, and where its models are loaded', () => {
    const lines = renderTop(snapshot({ nodes: [gpuBox(), laptop] }), { width: 120, height: 100, now: NOW })
    const styleOf = (prefix: string): (string | undefined)[] => lines.filter((l) => l.text.startsWith(prefix)).map((l) => l.style)
    expect(styleOf('laptop')).toEqual(['stale', 'stale'])
    expect(styleOf('gpu-box')).toEqual([undefined, undefined, undefined])
    expect(lines[0]).toMatchObject({ style: 'title' })
    expect(lines.find((l) => l.text.startsWith('tiny:default'))?.text).toContain('laptop(stale)')
  })

  it('shares a short terminal between the sections, each saying what it hides', () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ ...laptop, id: `peer-${i}`, name: `peer-${String(i).padStart(2, '0')}`, fresh: true }))
    const lines = text(snapshot({ nodes: [gpuBox(), ...many] }), 120, 24)
    expect(lines).toHaveLength(24)
    for (const heading of ['NODES', 'MODELS', 'BACKENDS']) expect(lines).toContain(heading)
    expect(lines.find((l) => l.startsWith('MEMORY'))).toBeDefined()
    // 12 rows for 4 sections: models (2 rows) shows whole, backends (12) gets 3 lines, nodes
    // (13) 3, memory (14) 4; each cut one ends in a line counting what it hides.
    expect(lines.filter((l) => l.startsWith('~ '))).toEqual([
      '~ 11 more (a taller terminal shows them)',
      '~ 11 more (a taller terminal shows them)',
      '~ 10 more (a taller terminal shows them)',
    ])
    // The list of nodes a model is loaded on is cut before any column is dropped.
    expect(lines).toContain('tiny:default  peer-00 peer-01 peer-02 peer-03 peer-04 peer-05 peer-06~     12   0/24      0      -      -           4000')
  })

  it('keeps the last answer on screen beneath the error while the node does not answer', () => {
    const s = snapshot(
      { nodes: [gpuBox()] },
      { fetchedAt: NOW - 5000, error: { message: 'no herd node answers at http://10.0.0.1:8080 (ECONNREFUSED)', since: NOW - 3000 } },
    )
    const lines = renderTop(s, { width: 100, height: 100, now: NOW, intervalMs: 2000 })
    expect(lines.slice(1, 3)).toEqual([
      { text: '! no herd node answers at http://10.0.0.1:8080 (ECONNREFUSED)', style: 'error' },
      { text: '  failing for 3s, retrying every 2s; showing the answer from 5s ago', style: 'error' },
    ])
    expect(lines.map((l) => l.text)).toContain('gpu-box (self)  ready    3h00m  0.0s  -          2.5    312          120/850  queue_full:2  .-=_+#')
  })

  it('says it is connecting before the first answer', () => {
    const lines = text(
      { url: URL, nodes: [], skipped: 0, fetchedAt: null, error: { message: 'GET /cluster/nodes: HTTP 401: invalid API key', since: NOW } },
      100,
    )
    expect(lines[0]).toMatch(/^herd top {2}http:\/\/10\.0\.0\.1:8080 {2}connecting/)
    expect(lines[1]).toBe('! GET /cluster/nodes: HTTP 401: invalid API key')
    expect(lines[2]).toBe('  failing for 0s, retrying every 1s')
    expect(lines).toContain('no nodes in the answer')
  })
})

describe('reading a /cluster/nodes answer', () => {
  it('skips entries that are not nodes and counts them', () => {
    const s = snapshot({ nodes: [gpuBox(), 'nonsense', { name: 'no id' }, null] })
    expect(s.nodes.map((n) => n.name)).toEqual(['gpu-box'])
    expect(s.skipped).toBe(3)
    expect(text(s, 100)[1]).toBe('! 3 entries of the answer are not nodes (not shown)')
  })

  it('falls back field by field instead of dropping a node with a malformed part', () => {
    const { nodes } = parseClusterNodes({
      nodes: [
        gpuBox({
          status: 42,
          age_ms: 'soon',
          started_at: 'yesterday',
          circuit: { open: true },
          resources: { gpus: [{ index: 0, name: 'ok', totalMb: 100, usedMb: 50, freeMb: 50 }, { name: 'no total' }], sysmem: 'lots' },
          models: [{ id: 'm', readyInstances: 'two', slotsBusy: 1, slotsTotal: 2, queueLength: 0, tokensPerSecond: 'fast' }, { noId: true }],
          traffic: {
            requestsPerSecond: 'many',
            tokensPerSecond: 3,
            errors: { queue_full: 2, weird: 'x', zero: 0 },
            models: 'none',
            history: { requests: [1, 'x', 2] },
          },
        }),
      ],
    })
    expect(nodes).toHaveLength(1)
    const n = nodes[0]
    expect(n).toMatchObject({ status: 'unknown', age_ms: null, started_at: null, circuit: null })
    expect(n?.resources).toEqual({ gpus: [{ index: 0, name: 'ok', totalMb: 100, usedMb: 50, freeMb: 50, herdMb: null }], sysmem: null })
    expect(n?.models).toEqual([{ id: 'm', readyInstances: 0, slotsBusy: 1, slotsTotal: 2, queueLength: 0, tokensPerSecond: null }])
    expect(n?.traffic).toMatchObject({
      requestsPerSecond: null,
      tokensPerSecond: 3,
      errors: [{ code: 'queue_full', count: 2 }],
      models: [],
      history: { requests: [1, 2] },
    })
  })

  it('treats a traffic field that is not an object as absent', () => {
    expect(parseClusterNodes({ nodes: [gpuBox({ traffic: 'lots' })] }).nodes[0]?.traffic).toBeNull()
    expect(parseClusterNodes({ nodes: [gpuBox({ traffic: undefined })] }).nodes[0]?.traffic).toBeNull()
  })

  it('turns control characters in names into ?, so a node cannot write escapes to the terminal', () => {
    const { nodes } = parseClusterNodes({ nodes: [gpuBox({ name: 'evil\x1b[2J\u202enode', traffic: { ...traffic, errors: { 'x\x07y': 1 } } })] })
    expect(nodes[0]?.name).toBe('evil?[2J?node')
    expect(nodes[0]?.traffic?.errors).toEqual([{ code: 'x?y', count: 1 }])
  })

  it('caps lists and cuts long strings', () => {
    const gpus = Array.from({ length: 500 }, (_, i) => ({ index: i, name: 'g', totalMb: 1, usedMb: 0, freeMb: 1 }))
    const { nodes } = parseClusterNodes({ nodes: [gpuBox({ name: 'n'.repeat(10_000), resources: { gpus, sysmem: { totalMb: 1, freeMb: 1 } } })] })
    expect(nodes[0]?.name).toHaveLength(200)
    expect(nodes[0]?.resources.gpus).toHaveLength(64)
  })

  it('refuses an answer that is not a node list', () => {
    expect(() => parseClusterNodes({ data: [] })).toThrow(/no nodes list/)
    expect(() => parseClusterNodes(null)).toThrow(/no nodes list/)
  })
})
