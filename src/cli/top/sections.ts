/**
 * Sharing the terminal's height between the screen's sections: each keeps its heading, the
 * rows are shared out fairly (a short section shows whole, the rest split what is left), and
 * a section that is cut says how many rows it hides.
 */
import { fit } from './layout.ts'
import type { TopLine } from './render.ts'

export interface Section {
  /** Always shown: spacing, title, column headers. */
  head: TopLine[]
  rows: TopLine[]
  /** Shown, dimmed, in place of no rows ('' for nothing). */
  empty: string
}

export function fitSections(top: TopLine[], sections: Section[], height: number, width: number): TopLine[] {
  const heads = sections.reduce((sum, s) => sum + s.head.length, 0)
  // Short of room for a row per section: the blank lines between sections go first.
  if (height - top.length - heads < sections.length && sections.some((s) => s.head[0]?.text === '')) {
    return fitSections(
      top,
      sections.map((s) => ({ ...s, head: s.head[0]?.text === '' ? s.head.slice(1) : s.head })),
      height,
      width,
    )
  }
  const bodies = sections.map((s) => (s.rows.length || !s.empty ? s.rows : [{ text: fit(s.empty, width), style: 'dim' as const }]))
  const all = [...top, ...sections.flatMap((s, i) => [...s.head, ...(bodies[i] ?? [])])]
  if (all.length <= height) return all
  let budget = height - top.length - heads
  if (budget < sections.length) return cut(all, height, width)
  // Fair shares, smallest section first, so what one does not use goes to the others.
  const allot = new Map<number, number>()
  const order = bodies.map((b, i) => ({ i, n: b.length })).sort((a, b) => a.n - b.n)
  order.forEach(({ i, n }, k) => {
    const give = Math.min(n, Math.floor(budget / (order.length - k)))
    allot.set(i, give)
    budget -= give
  })
  const lines = [...top]
  sections.forEach((s, i) => {
    const body = bodies[i] ?? []
    const n = allot.get(i) ?? 0
    lines.push(...s.head)
    if (n >= body.length) lines.push(...body)
    else
      lines.push(...body.slice(0, Math.max(n - 1, 0)), {
        text: fit(`~ ${body.length - Math.max(n - 1, 0)} more (a taller terminal shows them)`, width),
        style: 'dim',
      })
  })
  return lines
}

/** Too short for every heading: the first lines, the last of them saying how much is hidden. */
function cut(lines: TopLine[], height: number, width: number): TopLine[] {
  const kept = lines.slice(0, Math.max(height - 1, 0))
  const more: TopLine = { text: fit(`~ ${lines.length - kept.length} more lines`, width), style: 'dim' }
  return [...kept, more].slice(0, height)
}
