/**
 * The terminal side of `herd top`, by hand with ANSI escapes: the alternate screen (so the
 * shell's scrollback is left as it was), a hidden cursor, raw keys (`q`, Ctrl-C), repaint on
 * resize. `stop()` undoes all of it, and runs on process exit too, so a crash or a signal
 * does not leave the user's terminal in raw mode with no cursor.
 */
import { printable } from './layout.ts'
import type { LineStyle, TopLine } from './render.ts'

const ESC = '\x1b['
const ENTER = `${ESC}?1049h${ESC}?25l${ESC}2J`
const LEAVE = `${ESC}0m${ESC}?25h${ESC}?1049l`
const STYLE: Record<LineStyle, string> = { title: `${ESC}7m`, header: `${ESC}1m`, dim: `${ESC}2m`, error: `${ESC}31m`, stale: `${ESC}33m` }
/** Ctrl-C as raw mode delivers it (no SIGINT then). */
const CTRL_C = '\x03'

/** The parts of stdin that are used (a test passes a fake). */
export interface KeyInput {
  isTTY?: boolean
  setRawMode?(raw: boolean): unknown
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown
  resume(): unknown
  pause(): unknown
}

/** The parts of stdout that are used. */
export interface ScreenOutput {
  columns?: number
  rows?: number
  write(s: string): unknown
  on(event: 'resize', listener: () => void): unknown
  off(event: 'resize', listener: () => void): unknown
}

export interface ScreenEvents {
  quit(): void
  resize(): void
}

export class TopScreen {
  private started = false
  private readonly onData = (chunk: Buffer | string): void => {
    const keys = chunk.toString()
    if (keys.includes('q') || keys.includes('Q') || keys.includes(CTRL_C)) this.events.quit()
  }
  private readonly onResize = (): void => this.events.resize()
  private readonly onSignal = (): void => this.events.quit()
  private readonly onExit = (): void => this.stop()

  private readonly input: KeyInput
  private readonly output: ScreenOutput
  private readonly events: ScreenEvents
  private readonly signals: NodeJS.Signals[]

  /** `signals` end the view cleanly, like `q` (a test passes none). */
  constructor(input: KeyInput, output: ScreenOutput, events: ScreenEvents, signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    this.input = input
    this.output = output
    this.events = events
    this.signals = signals
  }

  /** Width and height now; a terminal that does not say is taken as 80x24. */
  size(): { width: number; height: number } {
    return { width: this.output.columns || 80, height: this.output.rows || 24 }
  }

  start(): void {
    if (this.started) return
    this.started = true
    this.output.write(ENTER)
    if (this.input.isTTY) this.input.setRawMode?.(true)
    this.input.on('data', this.onData)
    this.input.resume()
    this.output.on('resize', this.onResize)
    for (const s of this.signals) process.on(s, this.onSignal)
    process.on('exit', this.onExit)
  }

  /** Paint a whole frame in one write (no flicker): each line placed, the rest cleared. */
  paint(lines: TopLine[]): void {
    if (!this.started) return
    const { width, height } = this.size()
    let frame = ''
    lines.slice(0, height).forEach((line, i) => {
      // printable() again: nothing reaches the terminal as an escape but what this file writes.
      const text = printable(line.text).slice(0, width)
      frame += `${ESC}${i + 1};1H${line.style ? `${STYLE[line.style]}${text}${ESC}0m` : text}${ESC}K`
    })
    if (lines.length < height) frame += `${ESC}${lines.length + 1};1H${ESC}J`
    this.output.write(frame)
  }

  stop(): void {
    if (!this.started) return
    this.started = false
    for (const s of this.signals) process.off(s, this.onSignal)
    process.off('exit', this.onExit)
    this.output.off('resize', this.onResize)
    this.input.off('data', this.onData)
    if (this.input.isTTY) this.input.setRawMode?.(false)
    this.input.pause()
    this.output.write(LEAVE)
  }
}
