/**
 * The `herd top` screen as a pure function of what was fetched and the terminal's size:
 * (snapshot, width, height, now) → lines. No I/O, no clock of its own, so tests pin every
 * frame; the terminal loop only paints what this returns.
 */
import type { TopNode, TopSnapshot } from './data.ts'
import { ABSENT, age, clock, duration, gib, ms, rate } from './format.ts'
import { bar, fit, fitTable, sparkline, type Column } from './layout.ts'
import { fitSections, type Section } from './sections.ts'

/** How a line is painted; the terminal maps these to colours, tests read only the text. */
export type LineStyle = 'title' | 'header' | 'error' | 'stale' | 'dim'

export interface TopLine {
  text: string
  style?: LineStyle
}

export interface RenderOptions {
  width: number
  height: number
  /** ms since epoch: uptimes and the clock are relative to it. */
  now: number
  /** Refresh interval, for the "retrying every" line. */
  intervalMs?: number
  /** A single printed frame (--once): no key hint. */
  once?: boolean
}

/** The whole screen, at most `height` lines of at most `width` columns. */
export function renderTop(snapshot: TopSnapshot, options: RenderOptions): TopLine[] {
  const width = Math.max(options.width, 1)
  const head = [...titleLines(snapshot, width, options), ...problemLines(snapshot, width, options)]
  const sections = [nodesSection(snapshot.nodes, width, options.now), memorySection(snapshot.nodes, width), modelsSection(snapshot.nodes, width)]
  const backends = backendsSection(snapshot.nodes, width)
  if (backends) sections.push(backends)
  return fitSections(head, sections, Math.max(options.height, 1), width)
}

function titleLines(s: TopSnapshot, width: number, o: RenderOptions): TopLine[] {
  const stale = s.nodes.filter((n) => !n.fresh).length
  const count = s.fetchedAt === null ? 'connecting' : `${s.nodes.length} node${s.nodes.length === 1 ? '' : 's'}${stale ? ` (${stale} stale)` : ''}`
  const left = `herd top  ${s.url}  ${count}  ${clock(o.now)}`
  const right = o.once ? '' : 'q quit'
  const text = right && left.length + 2 + right.length <= width ? left.padEnd(width - right.length) + right : fit(left, width)
  return [{ text, style: 'title' }]
}

function problemLines(s: TopSnapshot, width: number, o: RenderOptions): TopLine[] {
  const lines: TopLine[] = []
  if (s.error) {
    const every = `${Number(((o.intervalMs ?? 1000) / 1000).toFixed(1))}s`
    const since = duration(o.now - s.error.since)
    const kept = s.fetchedAt === null ? '' : `; showing the answer from ${duration(o.now - s.fetchedAt)} ago`
    lines.push({ text: fit(`! ${s.error.message}`, width), style: 'error' })
    lines.push({ text: fit(`  failing for ${since}, retrying every ${every}${kept}`, width), style: 'error' })
  }
  if (s.skipped > 0) {
    const what = s.skipped === 1 ? '1 entry of the answer is not a node' : `${s.skipped} entries of the answer are not nodes`
    lines.push({ text: fit(`! ${what} (not shown)`, width), style: 'error' })
  }
  return lines
}

function nodesSection(nodes: TopNode[], width: number, now: number): Section {
  const columns: Column[] = [
    { header: 'NODE', flex: true, min: 12 },
    { header: 'STATUS' },
    { header: 'UPTIME', right: true, drop: 3 },
    { header: 'BEAT', right: true },
    { header: 'CIRCUIT', drop: 4 },
    { header: 'REQ/S', right: true },
    { header: 'TOK/S', right: true },
    { header: 'TTFB P50/P99 MS', right: true, drop: 5 },
    { header: 'ERRORS', drop: 6 },
    { header: 'REQUESTS', drop: 7 },
  ]
  const rows = nodes.map((n) => {
    const t = n.traffic
    const errors = t ? t.errors.map((e) => `${e.code}:${e.count}`).join(' ') || '0' : ABSENT
    return [
      n.self ? `${n.name} (self)` : n.name,
      n.fresh ? n.status : 'stale',
      n.started_at === null ? ABSENT : duration(now - n.started_at),
      age(n.age_ms),
      n.self ? ABSENT : (n.circuit ?? ABSENT),
      rate(t?.requestsPerSecond),
      rate(t?.tokensPerSecond),
      t && (t.ttfbP50Ms !== null || t.ttfbP99Ms !== null) ? `${ms(t.ttfbP50Ms)}/${ms(t.ttfbP99Ms)}` : ABSENT,
      errors,
      t?.history?.requests.length ? sparkline(t.history.requests, 20) : ABSENT,
    ]
  })
  const [header = '', ...body] = fitTable(columns, rows, width)
  return {
    head: [{ text: '' }, { text: fit('NODES', width), style: 'header' }, { text: header, style: 'dim' }],
    rows: body.map((text, i) => (nodes[i]?.fresh === false ? { text, style: 'stale' } : { text })),
    empty: 'no nodes in the answer',
  }
}

function memorySection(nodes: TopNode[], width: number): Section {
  const items = nodes.flatMap((n) => [
    ...n.resources.gpus.map((g) => ({ node: n, device: `gpu${g.index} ${g.name}`, total: g.totalMb, used: g.usedMb, herd: g.herdMb })),
    ...(n.resources.sysmem
      ? [
          {
            node: n,
            device: 'ram',
            total: n.resources.sysmem.totalMb,
            used: n.resources.sysmem.totalMb - n.resources.sysmem.freeMb,
            herd: n.resources.sysmem.herdMb,
          },
        ]
      : []),
  ])
  // Nodes that split used memory into herd's and others' (newer ones) and nodes that do not
  // can share the screen: the unsplit bars then get a mark of their own.
  const split = items.some((i) => i.herd !== null)
  const mixed = split && items.some((i) => i.herd === null)
  const unsplit = mixed ? '|' : '#'
  const legend = split ? `# herd  = other  ${mixed ? '| used  ' : ''}. free` : '# used  . free'
  const numbers = items.map((i) => `${gib(i.used)}/${gib(i.total)}G${i.herd === null ? '' : ` herd ${gib(i.herd)}`}`)
  // Labels take what they need up to a cap, the bar gets the rest (within reason), numbers last.
  const nodeW = Math.min(Math.max(4, ...items.map((i) => i.node.name.length)), 20)
  const numW = Math.max(0, ...numbers.map((n) => n.length))
  let devW = Math.min(Math.max(3, ...items.map((i) => i.device.length)), 28)
  const room = (): number => width - nodeW - devW - numW - 6
  if (room() < 12) devW = Math.max(8, devW - (12 - room()))
  const barW = Math.min(Math.max(room(), 5), 60)
  const rows = items.map((i, k) => ({
    text: fit(`${fit(i.node.name, nodeW, true)}  ${fit(i.device, devW, true)}  ${bar(barW, i.total, i.used, i.herd, unsplit)}  ${numbers[k] ?? ''}`, width),
    ...(i.node.fresh ? {} : { style: 'stale' as const }),
  }))
  return { head: [{ text: '' }, { text: fit(`MEMORY  ${legend}`, width), style: 'header' }], rows, empty: 'no memory reported' }
}

interface ModelRow {
  id: string
  where: string[]
  offered: number
  ready: number
  busy: number
  slots: number
  queue: number
  rps: number | null
  tps: number | null
  learned: number | null
}

function modelsSection(nodes: TopNode[], width: number): Section {
  const byId = new Map<string, ModelRow>()
  const add = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : a + b)
  for (const n of nodes) {
    for (const m of n.models) {
      const row = byId.get(m.id) ?? { id: m.id, where: [], offered: 0, ready: 0, busy: 0, slots: 0, queue: 0, rps: null, tps: null, learned: null }
      byId.set(m.id, row)
      row.offered += 1
      if (m.readyInstances > 0) row.where.push(`${n.name}${m.readyInstances > 1 ? `(${m.readyInstances})` : ''}${n.fresh ? '' : '(stale)'}`)
      row.ready += m.readyInstances
      row.busy += m.slotsBusy
      row.slots += m.slotsTotal
      row.queue += m.queueLength
      if (m.tokensPerSecond !== null) row.learned = Math.max(row.learned ?? 0, m.tokensPerSecond)
      const t = n.traffic?.models.find((x) => x.id === m.id)
      if (t) {
        row.rps = add(row.rps, t.requestsPerSecond)
        row.tps = add(row.tps, t.tokensPerSecond)
      }
    }
  }
  const models = [...byId.values()].sort((a, b) => b.ready - a.ready || a.id.localeCompare(b.id))
  const columns: Column[] = [
    { header: 'MODEL', flex: true, min: 20 },
    { header: 'LOADED ON', flex: true, min: 12, drop: 2 },
    { header: 'READY', right: true },
    { header: 'SLOTS', right: true },
    { header: 'QUEUE', right: true },
    { header: 'REQ/S', right: true, drop: 1 },
    { header: 'TOK/S', right: true, drop: 3 },
    { header: 'LEARNED TOK/S', right: true, drop: 4 },
  ]
  const rows = models.map((m) => [
    m.id,
    m.where.length ? m.where.join(' ') : `not loaded (${m.offered} node${m.offered === 1 ? '' : 's'})`,
    String(m.ready),
    `${m.busy}/${m.slots}`,
    String(m.queue),
    rate(m.rps),
    rate(m.tps),
    rate(m.learned),
  ])
  const [header = '', ...body] = fitTable(columns, rows, width)
  return {
    head: [{ text: '' }, { text: fit('MODELS', width), style: 'header' }, { text: header, style: 'dim' }],
    rows: body.map((text) => ({ text })),
    empty: 'no models',
  }
}

function backendsSection(nodes: TopNode[], width: number): Section | null {
  const rows = nodes.flatMap((n) => n.backends.map((b) => [b.name, n.name, b.health, b.circuit, `${b.inUse}/${b.maxConcurrency}`, String(b.queueLength)]))
  if (rows.length === 0) return null
  const columns: Column[] = [
    { header: 'BACKEND', flex: true, min: 8 },
    { header: 'NODE', drop: 1 },
    { header: 'HEALTH' },
    { header: 'CIRCUIT', drop: 2 },
    { header: 'IN USE', right: true },
    { header: 'QUEUE', right: true },
  ]
  const [header = '', ...body] = fitTable(columns, rows, width)
  return {
    head: [{ text: '' }, { text: fit('BACKENDS', width), style: 'header' }, { text: header, style: 'dim' }],
    rows: body.map((text) => ({ text })),
    empty: '',
  }
}
