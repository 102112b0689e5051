/**
 * `herd top` in a real terminal: tmux (its own server on a private socket, a fixed-size
 * detached session) runs the CLI against a real daemon with API keys set, over --url and
 * --key. The screen is read with capture-pane: it shows the node and its model, follows a
 * request (the model becomes loaded), refits a narrower window, reports the node going
 * away without crashing, and `q` exits 0 with the terminal as it was.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { HERD, startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'

const KEY = 'sk-herd-e2e-top'
const SOCKET = `herd-top-${process.pid}`
const SESSION = 'top'
let herd: HerdProcess | undefined
let dir: string

function tmux(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // -f /dev/null: none of the machine's tmux settings; -L: a server of our own.
    execFile('tmux', ['-f', '/dev/null', '-L', SOCKET, ...args], { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`tmux ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    )
  })
}

const screen = (): Promise<string> => tmux('capture-pane', '-p', '-t', SESSION)

async function waitForScreen(what: string, check: (text: string) => boolean, timeoutMs = 20_000): Promise<string> {
  let last = ''
  try {
    return await waitFor(
      what,
      async () => {
        last = await screen()
        return check(last) ? last : undefined
      },
      { timeoutMs, intervalMs: 100 },
    )
  } catch (err: unknown) {
    throw new Error(`${(err as Error).message}\n--- screen ---\n${last}\n--- herd ---\n${herd?.output().slice(-2000) ?? ''}`, { cause: err })
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-top-'))
  await writeTinyGguf(join(dir, 'tiny.gguf'))
  herd = await startHerd({
    home: dir,
    cookbook: { models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 512 --parallel 2 -t 1' }] }] },
    config: { node: { name: 'top-e2e' }, http: { api_keys: [KEY] } },
  })
  // HERD_HOME points nowhere: the URL and the key come from the flags alone. After top
  // exits, the shell records its status and the terminal's modes, then waits to be read.
  const top = [HERD, 'top', '--url', herd.url, '--key', KEY, '--interval', '0.5'].join(' ')
  const script = `env HERD_HOME=${join(dir, 'no-home')} ${top}; echo $? > ${join(dir, 'exit')}; stty -a > ${join(dir, 'stty')}; read _`
  await tmux('new-session', '-d', '-s', SESSION, '-x', '120', '-y', '40', script)
})

afterAll(async () => {
  // kill-server leaves its socket file behind: remove it too.
  const socket = (await tmux('display-message', '-p', '#{socket_path}').catch(() => '')).trim()
  await tmux('kill-server').catch(() => undefined)
  if (socket) await rm(socket, { force: true })
  await herd?.dispose()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('herd top in tmux', () => {
  it('shows the node and its model over --url with a key, on the alternate screen', async () => {
    const text = await waitForScreen('the node and its model', (t) => t.includes('top-e2e (self)') && /tiny:default\s+not loaded \(1 node\)/.test(t))
    expect(text).toMatch(/^herd top {2}http:\/\/127\.0\.0\.1:\d+ {2}1 node {2}\d\d:\d\d:\d\d +q quit$/m)
    expect(text).toMatch(/top-e2e \(self\)\s+ready\s+\d+s\s+0\.0s/)
    expect(text).toMatch(/top-e2e\s+ram\s+\[[#=]+\.*\]\s+[\d.]+\/[\d.]+G/)
    expect(text).toContain('TTFB P50/P99 MS')
    expect(await tmux('display-message', '-p', '-t', SESSION, '#{alternate_on} #{cursor_flag}')).toBe('1 0\n')
  })

  it('follows a request through the daemon: the model loads, and the node and model rates count it', async () => {
    const res = await fetch(`${herd?.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    })
    expect(res.status).toBe(200)
    await res.body?.cancel()
    await waitForScreen('the model loaded on top-e2e', (t) => /tiny:default\s+top-e2e\s+1\s+0\/2\s+0/.test(t))
    // The node's traffic (gossiped rates over the last minute) counts it: requests/s and tokens/s
    // on the node's row (after NODE, STATUS, UPTIME, BEAT, CIRCUIT), and on the model's.
    const text = await waitForScreen('the request in the rates', (t) => {
      const node = /top-e2e \(self\)\s+ready\s+\S+\s+\S+\s+-\s+([\d.]+)\s+([\d.]+)\s+\d+\/\d+/.exec(t)
      const model = /tiny:default\s+top-e2e\s+1\s+0\/2\s+0\s+([\d.]+)\s+([\d.]+)/.exec(t)
      return [node?.[1], node?.[2], model?.[1], model?.[2]].every((v) => Number(v ?? 0) > 0)
    })
    // One request in a 60 s window.
    expect(text).toMatch(/top-e2e \(self\)\s+ready\s+\S+\s+\S+\s+-\s+0\.02\s/)
  })

  it('refits a narrower terminal: columns drop, no line is wider than the window', async () => {
    await tmux('resize-window', '-t', SESSION, '-x', '70', '-y', '30')
    const text = await waitForScreen('the narrow layout', (t) => !t.includes('TTFB') && t.includes('TOK/S'))
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(70)
    expect(text).toContain('top-e2e (self)')
  })

  it('keeps running and says so when the node stops answering', async () => {
    await herd?.stop('SIGTERM')
    const text = await waitForScreen('the unreachable line', (t) => t.includes('! no herd node answers at') && /failing for \d+s, retrying every 0\.5s/.test(t))
    // The last answer stays beneath the error line.
    expect(text).toContain('top-e2e (self)')
  })

  it('quits on q with exit status 0 and the terminal restored', async () => {
    await tmux('send-keys', '-t', SESSION, 'q')
    const code = await waitFor('herd top to exit', () => readFile(join(dir, 'exit'), 'utf8').catch(() => undefined), { timeoutMs: 10_000 })
    expect(code.trim()).toBe('0')
    const stty = await waitFor('the stty record', () =>
      readFile(join(dir, 'stty'), 'utf8')
        .then((s) => s || undefined)
        .catch(() => undefined),
    )
    // Raw mode is off again: line editing and echo are back.
    expect(stty).toMatch(/(^|\s)icanon(\s|$)/)
    expect(stty).toMatch(/(^|\s)echo(\s|$)/)
    expect(await tmux('display-message', '-p', '-t', SESSION, '#{alternate_on} #{cursor_flag}')).toBe('0 1\n')
  })
})
