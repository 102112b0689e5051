/**
 * Summarize a V8 .cpuprofile (from `node --cpu-prof`): self time by owner (herd's own
 * folders, each npm package, each node: internal module) and by function, idle excluded.
 */
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  busyMs: number
  owners: { owner: string; ms: number }[]
  functions: { fn: string; owner: string; ms: number }[]
  /** herd's own functions (src/) with the time spent in them and everything they call synchronously. */
  herdInclusive: { fn: string; ms: number }[]
}

export function ownerOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg?.[1]) return pkg[1]
  const herd = /\/(src\/[^/]+|bench)\//.exec(url)
  if (herd?.[1]) return `herd ${herd[1]}`
  if (url.startsWith('node:')) return url
  return url
}

export async function summarizeProfile(file: string, top = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  const owners = new Map<string, number>()
  const fns = new Map<string, { fn: string; owner: string; ms: number }>()
  const inclusive = new Map<string, number>()
  let busyUs = 0
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (!node || node.callFrame.functionName === '(idle)') continue
    busyUs += us
    const { functionName, url } = node.callFrame
    const owner = ownerOf(url, functionName)
    owners.set(owner, (owners.get(owner) ?? 0) + us)
    const key = label(node)
    const entry = fns.get(key) ?? { fn: key, owner, ms: 0 }
    entry.ms += us
    fns.set(key, entry)
    // Inclusive: credit every herd function on the stack once (recursion counted once).
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)
      if (!frame || !ownerOf(frame.callFrame.url, frame.callFrame.functionName).startsWith('herd src/')) continue
      const k = label(frame)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
  }
  return {
    busyMs: busyUs / 1000,
    owners: [...owners]
      .map(([owner, us]) => ({ owner, ms: us / 1000 }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
    functions: [...fns.values()]
      .map((f) => ({ ...f, ms: f.ms / 1000 }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
    herdInclusive: [...inclusive]
      .map(([fn, us]) => ({ fn, ms: us / 1000 }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
  }
}

/**
 * Where one target spends more than another, per request: each owner's and function's self
 * time divided by the requests that target answered while profiled, minus the other's. A
 * wall-clock profile: time a process spent preempted inside a syscall (writev on loopback,
 * on a shared box) counts as that syscall's, so its row is an upper bound.
 */
export function perRequestDiffMarkdown(
  a: { name: string; summary: ProfileSummary; requests: number },
  b: { name: string; summary: ProfileSummary; requests: number },
  top = 30,
): string {
  const rows = (pick: (s: ProfileSummary) => { key: string; ms: number }[]): { key: string; a: number; b: number }[] => {
    const out = new Map<string, { key: string; a: number; b: number }>()
    for (const [side, t] of [
      ['a', a],
      ['b', b],
    ] as const) {
      for (const { key, ms } of pick(t.summary)) {
        const row = out.get(key) ?? { key, a: 0, b: 0 }
        row[side] += (ms * 1000) / Math.max(1, t.requests)
        out.set(key, row)
      }
    }
    return [...out.values()].sort((x, y) => y.a - y.b - (x.a - x.b))
  }
  const table = (title: string, list: { key: string; a: number; b: number }[]): string[] => [
    `| ${title} | ${a.name} µs/req | ${b.name} µs/req | difference |`,
    '|---|---:|---:|---:|',
    ...list
      .slice(0, top)
      .map(
        (r) =>
          `| ${title === 'function' ? `\`${r.key}\`` : r.key} | ${r.a.toFixed(2)} | ${r.b.toFixed(2)} | ${(r.a - r.b >= 0 ? '+' : '') + (r.a - r.b).toFixed(2)} |`,
      ),
  ]
  const owners = rows((s) => s.owners.map((o) => ({ key: o.owner, ms: o.ms })))
  const total = owners.reduce((t, r) => ({ a: t.a + r.a, b: t.b + r.b }), { a: 0, b: 0 })
  return [
    `Busy profile time per request: ${a.name} ${total.a.toFixed(1)} µs over ${a.requests} requests, ${b.name} ${total.b.toFixed(1)} µs over ${b.requests}: ${(total.a - total.b).toFixed(1)} µs apart.`,
    '',
    ...table('owner', owners),
    '',
    ...table(
      'function',
      rows((s) => s.functions.map((f) => ({ key: f.fn, ms: f.ms }))),
    ),
  ].join('\n')
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  return `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${lineNumber + 1}`
}

export function profileMarkdown(s: ProfileSummary): string {
  const share = (v: number): string => `${((v / s.busyMs) * 100).toFixed(1)} %`
  return [
    `Busy (non-idle) CPU in the herd process: ${s.busyMs.toFixed(0)} ms`,
    '',
    '| owner | self ms | share |',
    '|---|---:|---:|',
    ...s.owners.map((o) => `| ${o.owner} | ${o.ms.toFixed(0)} | ${share(o.ms)} |`),
    '',
    '| function | owner | self ms | share |',
    '|---|---|---:|---:|',
    ...s.functions.map((f) => `| \`${f.fn}\` | ${f.owner} | ${f.ms.toFixed(0)} | ${share(f.ms)} |`),
    '',
    "herd's own functions, inclusive of what they call synchronously (async continuations not included):",
    '',
    '| function | incl. ms | share |',
    '|---|---:|---:|',
    ...s.herdInclusive.map((f) => `| \`${f.fn}\` | ${f.ms.toFixed(0)} | ${share(f.ms)} |`),
  ].join('\n')
}

if (import.meta.main) {
  const file = process.argv[2]
  if (file === undefined) throw new Error('usage: node bench/lib/cpuprofile.ts FILE.cpuprofile')
  process.stdout.write(`${profileMarkdown(await summarizeProfile(file))}\n`)
}
