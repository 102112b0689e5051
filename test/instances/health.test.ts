import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Agent } from 'undici'
import { LISTENING_LINE, readSlotInfo, waitHealthy } from '../../src/instances/health.ts'
import { LogRing } from '../../src/instances/log-ring.ts'

/** A /health that says 503 until `ready` (or the `readyAtProbe`th probe), counting probes; /props and /slots as llama-server has them. */
async function server(readyAtProbe = Infinity): Promise<{ url: string; probes: () => number; setReady: () => void; server: Server }> {
  let ready = false
  let probes = 0
  const s = createServer((req, res) => {
    if (req.url === '/health') {
      probes++
      if (probes >= readyAtProbe) ready = true
      res.writeHead(ready ? 200 : 503).end(ready ? '{"status":"ok"}' : '{"error":"Loading model"}')
    } else if (req.url === '/props') res.end(JSON.stringify({ total_slots: 2, default_generation_settings: { n_ctx: 256 } }))
    else if (req.url === '/slots')
      res.end(
        JSON.stringify([
          { id: 0, n_ctx: 512 },
          { id: 1, n_ctx: 512 },
        ]),
      )
    else res.writeHead(404).end()
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, probes: () => probes, setReady: () => (ready = true), server: s }
}

const dispatcher = new Agent()
let open: Server | undefined
afterEach(async () => {
  await new Promise((r) => open?.close(r) ?? r(undefined))
  open = undefined
})

describe('waitHealthy', () => {
  it('probes again within a few ms at first, so a server that is ready soon is seen soon', async () => {
    const s = await server(4)
    open = s.server
    const t0 = performance.now()
    // A ceiling of a minute: only the backoff's start (2 ms, ×1.5) can make this quick.
    await waitHealthy(s.url, { dispatcher, signal: AbortSignal.timeout(5_000), intervalMs: 60_000 })
    expect(performance.now() - t0).toBeLessThan(1_000)
    expect(s.probes()).toBe(4)
  })

  it('probes at once when nudged, and still resolves only on a 200', async () => {
    const s = await server()
    open = s.server
    let nudge: (() => void) | undefined
    let resolved = false
    const done = waitHealthy(s.url, {
      dispatcher,
      signal: AbortSignal.timeout(10_000),
      intervalMs: 60_000,
      firstRetryMs: 60_000,
      nudge: (probeNow) => {
        nudge = probeNow
        return () => (nudge = undefined)
      },
    }).then(() => (resolved = true))
    const until = async (n: number): Promise<void> => {
      while (s.probes() < n) await new Promise((r) => setTimeout(r, 5))
    }
    await until(1)
    nudge?.()
    await until(2)
    // A nudge is a hint: the server said 503, so it is not ready.
    await new Promise((r) => setTimeout(r, 50))
    expect(resolved).toBe(false)
    s.setReady()
    nudge?.()
    await done
    expect(s.probes()).toBe(3)
    expect(nudge, 'unhooked once done').toBeUndefined()
  })

  it('rejects when its signal aborts', async () => {
    const s = await server()
    open = s.server
    const ac = new AbortController()
    const done = waitHealthy(s.url, { dispatcher, signal: ac.signal, intervalMs: 60_000, firstRetryMs: 60_000 })
    while (s.probes() < 1) await new Promise((r) => setTimeout(r, 5))
    ac.abort(new Error('stop'))
    await expect(done).rejects.toThrow('stop')
  })
})

describe('readSlotInfo', () => {
  it('takes the slot count from /props and the per-slot context from /slots', async () => {
    const s = await server()
    open = s.server
    expect(await readSlotInfo(s.url, { dispatcher, signal: AbortSignal.timeout(5_000) })).toEqual({ slots: 2, nCtx: 512 })
  })
})

describe('the listening line', () => {
  it("matches llama-server's own listening lines, and not the one before the model loads", () => {
    expect(LISTENING_LINE.test('0.00.915.678 I srv  llama_server: listening on http://127.0.0.1:41063')).toBe(true)
    expect(LISTENING_LINE.test('main: server is listening on http://127.0.0.1:8080 - starting the main loop')).toBe(true)
    expect(LISTENING_LINE.test('main: HTTP server is listening, hostname: 127.0.0.1, port: 8080, http threads: 1')).toBe(false)
  })

  it('reaches a LogRing listener line by line, as the process writes it', () => {
    const ring = new LogRing(10)
    const heard: string[] = []
    ring.onLine = (line) => heard.push(line)
    ring.push('a\r\nb')
    ring.push('c\nd\n')
    ring.add('herd: a note of its own')
    expect(heard).toEqual(['a', 'bc', 'd'])
  })
})
