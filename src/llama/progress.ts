/** What `buildLlama` reports while it works, and how cmake's output becomes that. */

export type LlamaBuildEvent =
  | { phase: 'source' | 'configure' | 'smoke' | 'install' | 'done'; message: string }
  /** One `[ NN%] …` line from `cmake --build`. */
  | { phase: 'build'; percent: number; message: string }
  /** Any other tool output line, for those who want the full log. */
  | { phase: 'log'; message: string }

export type OnBuildProgress = (event: LlamaBuildEvent) => void

const PERCENT_LINE = /^\[\s*(\d{1,3})%\]\s*(.*)$/
const NINJA_LINE = /^\[(\d+)\/(\d+)\]\s*(.*)$/

/**
 * Parses a build progress line: the Makefile generator's `[ 42%] Building CXX object …`, or
 * Ninja's `[17/230] Building CXX object …` (where CMAKE_GENERATOR picks Ninja); null otherwise.
 */
export function parseCmakeProgress(line: string): { percent: number; message: string } | null {
  const text = line.trim()
  const m = PERCENT_LINE.exec(text)
  if (m && m[1] !== undefined) return { percent: Math.min(100, Number(m[1])), message: (m[2] ?? '').trim() }
  const n = NINJA_LINE.exec(text)
  if (n && n[1] !== undefined && n[2] !== undefined && Number(n[2]) > 0) {
    return { percent: Math.min(100, Math.floor((100 * Number(n[1])) / Number(n[2]))), message: (n[3] ?? '').trim() }
  }
  return null
}

/** One human line for an event (used by `herd llama build`). */
export function formatBuildEvent(event: LlamaBuildEvent): string {
  if (event.phase === 'build') return `[${String(event.percent).padStart(3)}%] ${event.message}`
  return `${event.phase.padEnd(9)} ${event.message}`
}
