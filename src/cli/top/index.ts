/**
 * `herd top`: the mesh as a running node sees it, live in the terminal (nodes, GPU and
 * system memory bars, models, traffic), refreshed every --interval seconds until `q`.
 * With --once, or when stdout is not a terminal, it prints one frame and exits.
 */
import { stdin, stdout } from 'node:process'
import { nodeClient } from '../client.ts'
import { parseCommandArgs, UsageError } from '../usage.ts'
import { parseClusterNodes } from './data.ts'
import { topLoop } from './loop.ts'
import { renderTop } from './render.ts'
import { TopScreen, type KeyInput, type ScreenOutput } from './terminal.ts'

export { renderTop, type TopLine, type RenderOptions } from './render.ts'
export { parseClusterNodes, type TopNode, type TopSnapshot } from './data.ts'

const FLAGS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  key: { type: 'string' },
  interval: { type: 'string' },
  once: { type: 'boolean' },
} as const

/** A refresh faster than this would mostly measure itself. */
export const MIN_INTERVAL_MS = 200
export const MAX_INTERVAL_MS = 3_600_000
/** A --once frame when the width is unknown (piped). */
const PIPE_WIDTH = 120

export async function topCommand(args: string[], out: ScreenOutput & { isTTY?: boolean } = stdout, input: KeyInput = stdin): Promise<number> {
  const { values } = parseCommandArgs('top', args, FLAGS)
  const intervalMs = values.interval === undefined ? 1000 : Number(values.interval) * 1000
  if (!Number.isFinite(intervalMs) || intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_INTERVAL_MS)
    throw new UsageError('top', `--interval takes seconds, from ${MIN_INTERVAL_MS / 1000} to ${MAX_INTERVAL_MS / 1000}`)
  const client = await nodeClient(values)
  // A refresh that hangs should not freeze the view for long: give up after a few intervals.
  const timeoutMs = Math.min(Math.max(3 * intervalMs, 2000), 10_000)
  const fetchNodes = (signal: AbortSignal): Promise<unknown> => client.call('GET', '/cluster/nodes', undefined, { signal, timeoutMs })
  try {
    if (values.once || !out.isTTY) {
      // One frame: a node that does not answer is the command's error (exit 1, with the advice).
      const { nodes, skipped } = parseClusterNodes(await fetchNodes(new AbortController().signal))
      const snapshot = { url: client.base, nodes, skipped, fetchedAt: Date.now(), error: null }
      const lines = renderTop(snapshot, { width: out.columns || PIPE_WIDTH, height: Number.MAX_SAFE_INTEGER, now: Date.now(), intervalMs, once: true })
      out.write(lines.map((l) => l.text.trimEnd()).join('\n') + '\n')
      return 0
    }
    return await live(client.base, fetchNodes, intervalMs, out, input)
  } finally {
    await client.close()
  }
}

async function live(
  url: string,
  fetchNodes: (signal: AbortSignal) => Promise<unknown>,
  intervalMs: number,
  out: ScreenOutput,
  input: KeyInput,
): Promise<number> {
  const quit = new AbortController()
  let redraw = (): void => {}
  const screen = new TopScreen(input, out, { quit: () => quit.abort(), resize: () => redraw() })
  screen.start()
  try {
    const loop = topLoop({ url, fetchNodes, intervalMs, size: () => screen.size(), paint: (lines) => screen.paint(lines) }, quit.signal)
    redraw = loop.redraw
    await loop.done
    return 0
  } finally {
    screen.stop()
  }
}
