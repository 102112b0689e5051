/**
 * A fake llama-server that answers as fast as node:http can: POST /v1/chat/completions
 * only. Non-streaming gets a small JSON at once; `"stream": true` gets `events` SSE events
 * of about `eventBytes` each, written back to back, then `data: [DONE]`.
 *
 * Run directly, it listens on 127.0.0.1:0 and prints its URL (one line) on stdout.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { serveProbes } from './probe.ts'

export interface FakeUpstreamInit {
  /** SSE events per streaming answer (default 32). */
  events?: number
  /** Approximate bytes per SSE event, framing included (default 100). */
  eventBytes?: number
}

const JSON_ANSWER = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 0,
    model: 'bench',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  }),
)
const DONE = Buffer.from('data: [DONE]\n\n')

/** One SSE event padded to `bytes`, so streaming answers have a known size. */
function sseEvent(i: number, bytes: number): Buffer {
  const head = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${i % 10}`
  const tail = '"}}]}\n\n'
  return Buffer.from(head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail)
}

export function createFakeUpstream(init: FakeUpstreamInit = {}): Server {
  const bytes = init.eventBytes ?? 100
  const events = Array.from({ length: init.events ?? 32 }, (_, i) => sseEvent(i, bytes))
  return createServer({ keepAliveTimeout: 60_000 }, (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      req.resume()
      res.writeHead(404).end()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      // A substring test, not JSON.parse: the fake must cost as little as possible.
      const stream = Buffer.concat(chunks).includes('"stream":true')
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': JSON_ANSWER.length })
        res.end(JSON_ANSWER)
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      // Back to back, one write per event, like llama-server's one write per token.
      for (const e of events) res.write(e)
      res.end(DONE)
    })
  })
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '32' }, 'event-bytes': { type: 'string', default: '100' } } })
  const server = createFakeUpstream({ events: Number(values.events), eventBytes: Number(values['event-bytes']) })
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
  })
  serveProbes(() => server.close())
}
