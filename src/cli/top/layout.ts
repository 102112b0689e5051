/**
 * Fitting text into a terminal: tables whose columns are dropped (least useful first) and
 * then shrunk until they fit the width, cells cut with an ellipsis, and memory bars. Plain
 * ASCII on purpose: every character is one column wide in every terminal and locale, so
 * widths are string lengths.
 */

/** Marks a cut cell (ASCII, like the rest). */
export const ELLIPSIS = '~'

/**
 * Control and format characters replaced by `?`: a name or message from a node (or from a
 * peer, through gossip) must not be able to move the cursor, clear the screen or reorder text.
 */
export function printable(s: string): string {
  return s.replace(/[\p{Cc}\p{Cf}]/gu, '?')
}

/** Cut `s` to `width` columns, marking the cut with `~`; pad with spaces when `pad`. */
export function fit(s: string, width: number, pad = false): string {
  if (width <= 0) return ''
  const cut = s.length > width ? (width === 1 ? ELLIPSIS : s.slice(0, width - 1) + ELLIPSIS) : s
  return pad ? cut.padEnd(width) : cut
}

export interface Column {
  header: string
  /** Right-aligned (numbers). */
  right?: boolean
  /** Shrinks (its cells cut) before any column is dropped; the rightmost flex column first. */
  flex?: boolean
  /** Narrowest a flex column may become (default 8). */
  min?: number
  /** Higher drops first when the terminal is narrow; 0 never drops. */
  drop?: number
}

const GAP = 2

/** Lay out a table in `width` columns: header line first, then one line per row. */
export function fitTable(columns: Column[], rows: string[][], width: number): string[] {
  const natural = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)))
  const shown = columns.map((_, i) => i)
  const total = (): number => shown.reduce((sum, i) => sum + (widths[i] ?? 0), 0) + GAP * Math.max(shown.length - 1, 0)
  let widths = [...natural]
  const shrink = (): void => {
    widths = [...natural]
    for (const i of [...shown].reverse()) {
      const c = columns[i]
      const over = total() - width
      if (over <= 0) return
      if (c?.flex) widths[i] = Math.max(Math.min(c.min ?? 8, natural[i] ?? 0), (natural[i] ?? 0) - over)
    }
  }
  shrink()
  while (total() > width) {
    // Drop the droppable column with the highest `drop` (the rightmost among equals).
    let victim = -1
    for (const i of shown) if ((columns[i]?.drop ?? 0) > 0 && (victim < 0 || (columns[i]?.drop ?? 0) >= (columns[victim]?.drop ?? 0))) victim = i
    if (victim < 0) break
    shown.splice(shown.indexOf(victim), 1)
    shrink()
  }
  const line = (cells: string[]): string =>
    fit(
      shown
        .map((i) => {
          const w = widths[i] ?? 0
          const cell = fit(cells[i] ?? '', w)
          return columns[i]?.right ? cell.padStart(w) : cell.padEnd(w)
        })
        .join(' '.repeat(GAP))
        .trimEnd(),
      width,
    )
  return [line(columns.map((c) => c.header)), ...rows.map(line)]
}

/**
 * A memory bar `[###===....]`: `#` herd's share, `=` other processes, `.` free. Where the
 * node does not split its used memory (`herdMb` null), all of it is drawn with `unsplit`.
 * Rounded so any non-zero share shows at least one mark.
 */
export function bar(width: number, totalMb: number, usedMb: number, herdMb: number | null, unsplit = '#'): string {
  const inner = Math.max(width - 2, 1)
  if (!(totalMb > 0)) return `[${'?'.repeat(inner)}]`
  const clamp = (v: number): number => Math.min(Math.max(v, 0), totalMb)
  const used = clamp(usedMb)
  const cells = (mb: number): number => (mb <= 0 ? 0 : Math.max(1, Math.round((mb / totalMb) * inner)))
  const usedCells = Math.min(cells(used), inner)
  const free = '.'.repeat(inner - usedCells)
  if (herdMb === null) return `[${unsplit.repeat(usedCells)}${free}]`
  const herdCells = Math.min(cells(Math.min(clamp(herdMb), used)), usedCells)
  return `[${'#'.repeat(herdCells)}${'='.repeat(usedCells - herdCells)}${free}]`
}

/** A small chart of recent counts in ASCII, newest last: `_` for none, then `.-=+*#` up to the largest. */
export function sparkline(values: number[], width: number): string {
  const marks = '.-=+*#'
  const recent = values.slice(-width)
  const max = Math.max(0, ...recent)
  return recent.map((v) => (v <= 0 ? '_' : (marks[Math.min(marks.length - 1, Math.ceil((v / max) * marks.length) - 1)] ?? '#'))).join('')
}
