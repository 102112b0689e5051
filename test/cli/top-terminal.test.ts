/**
 * `herd top`'s terminal loop against a real HTTP server standing in for a node, with fake
 * TTY streams: what it paints, how it refits on resize, how it survives a node that fails
 * or hangs, and that `q` and Ctrl-C hand the terminal back as it was.
 */
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { topCommand } from '../../src/cli/top/index.ts'
import { UsageError } from '../../src/cli/usage.ts'
import { waitFor } from '../helpers/poll.ts'

const KEY = 'sk-top-from-config'

class FakeTty extends EventEmitter {
  isTTY = true
  columns = 100
  rows = 30
  raw: boolean[] = []
  paused = true
  writes: string[] = []
  setRawMode(raw: boolean): this {
    this.raw.push(raw)
    return this
  }
  resume(): this {
    this.paused = false
    return this
  }
  pause(): this {
    this.paused = true
    return this
  }
  write(s: string): boolean {
    this.writes.push(s)
    return true
  }
}

// The escape character comes from a variable: written in a pattern it trips no-control-regex.
const ESC = String.fromCharCode(27)
const ROW = new RegExp(`${ESC}\\[\\d+;1H`)
const SGR_OR_MODE = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g')

/** The text of the last painted frame, one string per screen row. */
function lastFrame(tty: FakeTty): string[] {
  const frame = [...tty.writes].reverse().find((w) => w.includes('\x1b[1;1H')) ?? ''
  return frame
    .split(ROW)
    .slice(1)
    .map((row) => row.replace(SGR_OR_MODE, ''))
}

const node = (name: string) => ({
  id: 'id-1',
  name,
  self: true,
  status: 'ready',
  fresh: true,
  age_ms: 0,
  started_at: new Date().toISOString(),
  circuit: null,
  resources: { gpus: [], sysmem: { totalMb: 8192, freeMb: 4096 } },
  models: [{ id: 'tiny:default', readyInstances: 1, slotsBusy: 0, slotsTotal: 2, queueLength: 0, tokensPerSecond: null }],
  backends: [],
})

let dir: string
let server: Server
let url: string
/** What the fake node does with the next request. */
let answer: (req: IncomingMessage, res: ServerResponse) => void
let seenAuth: (string | undefined)[]

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-top-'))
  await writeFile(join(dir, 'config.yaml'), `http:\n  api_keys: [${KEY}]\n`)
  seenAuth = []
  answer = (_req, res) => res.end(JSON.stringify({ nodes: [node('fake-node')] }))
  server = createServer((req, res) => {
    seenAuth.push(req.headers.authorization)
    answer(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})

afterEach(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await rm(dir, { recursive: true, force: true })
})

function start(tty: FakeTty, input: FakeTty): Promise<number> {
  return topCommand(['--config', join(dir, 'config.yaml'), '--url', url, '--interval', '0.2'], tty, input)
}

describe('herd top in a terminal', () => {
  it('paints on the alternate screen in raw mode, refits on resize, and q restores the terminal', async () => {
    const tty = new FakeTty()
    const input = new FakeTty()
    const sigint = process.listenerCount('SIGINT')
    const done = start(tty, input)
    await waitFor('the first frame with the node', () => lastFrame(tty).some((l) => l.startsWith('fake-node (self)')))
    expect(tty.writes[0]).toBe('\x1b[?1049h\x1b[?25l\x1b[2J')
    expect(input.raw).toEqual([true])
    expect(input.paused).toBe(false)
    // The key from the config travels on every refresh.
    expect(seenAuth.every((a) => a === `Bearer ${KEY}`)).toBe(true)
    expect(lastFrame(tty).some((l) => l.includes('TTFB P50/P99 MS'))).toBe(true)

    tty.columns = 50
    tty.emit('resize')
    await waitFor('a frame fitted to 50 columns', () => {
      const frame = lastFrame(tty)
      return frame.length > 0 && frame.every((l) => l.length <= 50) && !frame.some((l) => l.includes('TTFB')) && frame.some((l) => l.startsWith('fake-node'))
    })

    input.emit('data', Buffer.from('q'))
    expect(await done).toBe(0)
    expect(tty.writes.at(-1)).toBe('\x1b[0m\x1b[?25h\x1b[?1049l')
    expect(input.raw).toEqual([true, false])
    expect(input.paused).toBe(true)
    expect(input.listenerCount('data')).toBe(0)
    expect(tty.listenerCount('resize')).toBe(0)
    expect(process.listenerCount('SIGINT')).toBe(sigint)
  })

  it('shows a failing node as an error line, keeps the last answer, and recovers when it answers again', async () => {
    const tty = new FakeTty()
    const input = new FakeTty()
    const done = start(tty, input)
    await waitFor('the node', () => lastFrame(tty).some((l) => l.startsWith('fake-node (self)')))
    answer = (_req, res) => {
      res.statusCode = 503
      // An escape in the message (here: set the window title) must reach the screen as text.
      res.end(JSON.stringify({ error: { message: 'node is draining\x1b]0;pwned\x07', type: 'server_error', param: null, code: 'draining' } }))
    }
    await waitFor('the error line', () => lastFrame(tty).some((l) => l.startsWith('! GET /cluster/nodes: HTTP 503: node is draining?]0;pwned?')))
    expect(tty.writes.join('')).not.toContain('\x1b]0;')
    expect(lastFrame(tty).some((l) => l.startsWith('fake-node (self)'))).toBe(true)
    answer = (_req, res) => res.end('not json at all')
    await waitFor('the malformed answer reported', () => lastFrame(tty).some((l) => l.startsWith('! the answer to /cluster/nodes has no nodes list')))
    answer = (_req, res) => res.end(JSON.stringify({ nodes: [node('renamed-node')] }))
    await waitFor('the recovery', () => lastFrame(tty).some((l) => l.startsWith('renamed-node (self)')) && !lastFrame(tty).some((l) => l.startsWith('!')))
    input.emit('data', '\x03')
    expect(await done).toBe(0)
    expect(input.raw).toEqual([true, false])
  })

  it('quits at once on q even while a refresh hangs', async () => {
    const tty = new FakeTty()
    const input = new FakeTty()
    answer = () => {} // never answers: the refresh would wait for its 2 s timeout
    const done = start(tty, input)
    await waitFor('the connecting frame', () => lastFrame(tty).some((l) => l.includes('connecting')))
    const asked = Date.now()
    input.emit('data', 'q')
    expect(await done).toBe(0)
    expect(Date.now() - asked).toBeLessThan(1000)
    expect(tty.writes.at(-1)).toBe('\x1b[0m\x1b[?25h\x1b[?1049l')
  })

  it('prints one plain frame with --once and exits 0', async () => {
    const tty = new FakeTty()
    const input = new FakeTty()
    expect(await topCommand(['--config', join(dir, 'config.yaml'), '--url', url, '--once'], tty, input)).toBe(0)
    const out = tty.writes.join('')
    expect(out).not.toContain('\x1b[')
    expect(out).not.toContain('q quit')
    expect(out).toMatch(/^fake-node \(self\)\s+ready/m)
    expect(out).toMatch(/^tiny:default\s+fake-node\s+1\s+0\/2\s+0/m)
    expect(input.raw).toEqual([])
  })

  it('refuses an interval it cannot keep before touching the terminal', async () => {
    const tty = new FakeTty()
    for (const interval of ['0', '0.1', 'soon', '100000'])
      await expect(topCommand(['--url', url, '--interval', interval], tty, new FakeTty())).rejects.toThrow(UsageError)
    expect(tty.writes).toEqual([])
  })
})
