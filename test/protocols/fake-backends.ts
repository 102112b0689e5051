/**
 * Two tiny backends on real sockets, each speaking one protocol's documented wire format:
 * an Anthropic Messages server and an OpenAI Chat Completions server. Each answers with a
 * tool call while the conversation's last turn is the user's question, and with text once
 * a tool result came back; `model: 'fail'` makes it fail mid-stream (or answer 400 when not
 * streaming). Each records the bodies it received, and writes every SSE event in two
 * pieces, cut mid-event, so the converters in front see split events over a real socket.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeBackend {
  url: string
  received: Record<string, unknown>[]
  close(): Promise<void>
}

type Handler = (body: Record<string, unknown>, res: ServerResponse) => Promise<void>

async function start(path: string, handle: Handler, check: (req: IncomingMessage) => boolean): Promise<FakeBackend> {
  const received: Record<string, unknown>[] = []
  const server: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      if (req.method !== 'POST' || req.url !== path) return json(res, 404, { error: 'not found' })
      if (!check(req)) return json(res, 401, { error: 'bad credentials' })
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
      received.push(body)
      await handle(body, res)
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** Writes each event in two pieces, waiting for the socket between them. */
async function sse(res: ServerResponse, events: string[]): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  for (const event of events) {
    const mid = Math.floor(event.length / 2)
    res.write(event.slice(0, mid))
    await new Promise<void>((resolve) => setImmediate(resolve))
    res.write(event.slice(mid))
  }
  res.end()
}

/** Whether the conversation's last turn carries a tool's result. */
function answeredByTool(body: Record<string, unknown>): boolean {
  const last = (body['messages'] as Record<string, unknown>[]).at(-1) ?? {}
  if (last['role'] === 'tool') return true
  return Array.isArray(last['content']) && (last['content'] as Record<string, unknown>[]).some((b) => b['type'] === 'tool_result')
}

export function fakeAnthropic(apiKey: string): Promise<FakeBackend> {
  const named = (data: Record<string, unknown>): string => `event: ${String(data['type'])}\ndata: ${JSON.stringify(data)}\n\n`
  const usage = { input_tokens: 21, output_tokens: 12, cache_read_input_tokens: 4, cache_creation_input_tokens: 0 }
  return start(
    '/v1/messages',
    async (body, res) => {
      const tool = !answeredByTool(body)
      const text = tool ? 'Let me look that up.' : 'It is 18°C in Paris.'
      if (body['model'] === 'fail' && body['stream'] !== true) {
        return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'model fail does not exist' } })
      }
      if (body['stream'] !== true) {
        const content: unknown[] = [{ type: 'text', text }]
        if (tool) content.push({ type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } })
        const stop = tool ? 'tool_use' : 'end_turn'
        return json(res, 200, {
          id: 'msg_01',
          type: 'message',
          role: 'assistant',
          model: 'claude-fake-1',
          content,
          stop_reason: stop,
          stop_sequence: null,
          usage,
        })
      }
      const message = {
        id: 'msg_02',
        type: 'message',
        role: 'assistant',
        model: 'claude-fake-1',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      }
      const events = [named({ type: 'message_start', message }), named({ type: 'ping' })]
      events.push(named({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }))
      for (const piece of text.match(/.{1,6}/gu) ?? [])
        events.push(named({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }))
      events.push(named({ type: 'content_block_stop', index: 0 }))
      if (body['model'] === 'fail') {
        events.push(named({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }))
        return sse(res, events)
      }
      if (tool) {
        events.push(named({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_02', name: 'get_weather', input: {} } }))
        for (const partial_json of ['', '{"city"', ': "Par', 'is", "unit": "cel', 'sius"}']) {
          events.push(named({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json } }))
        }
        events.push(named({ type: 'content_block_stop', index: 1 }))
      }
      events.push(named({ type: 'message_delta', delta: { stop_reason: tool ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: 12 } }))
      events.push(named({ type: 'message_stop' }))
      await sse(res, events)
    },
    (req) => req.headers['x-api-key'] === apiKey && typeof req.headers['anthropic-version'] === 'string',
  )
}

export function fakeOpenai(apiKey: string): Promise<FakeBackend> {
  const usage = { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42, prompt_tokens_details: { cached_tokens: 10 } }
  return start(
    '/v1/chat/completions',
    async (body, res) => {
      const tool = !answeredByTool(body)
      const text = tool ? 'Let me look that up.' : 'It is 18°C in Paris.'
      if (body['model'] === 'fail' && body['stream'] !== true) {
        return json(res, 400, { error: { message: 'The model `fail` does not exist', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } })
      }
      const call = { id: 'call_01', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }
      if (body['stream'] !== true) {
        const message = { role: 'assistant', content: text, refusal: null, ...(tool ? { tool_calls: [call] } : {}) }
        const choice = { index: 0, message, logprobs: null, finish_reason: tool ? 'tool_calls' : 'stop' }
        return json(res, 200, { id: 'chatcmpl-01', object: 'chat.completion', created: 1, model: 'gpt-fake-1', choices: [choice], usage })
      }
      const chunk = (delta: unknown, finish: string | null = null): string =>
        `data: ${JSON.stringify({ id: 'chatcmpl-02', object: 'chat.completion.chunk', created: 1, model: 'gpt-fake-1', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
      const events = [chunk({ role: 'assistant', content: '' })]
      for (const piece of text.match(/.{1,6}/gu) ?? []) events.push(chunk({ content: piece }))
      if (body['model'] === 'fail') {
        events.push(`data: ${JSON.stringify({ error: { message: 'upstream exploded', type: 'server_error' } })}\n\n`)
        return sse(res, events)
      }
      if (tool) {
        events.push(chunk({ tool_calls: [{ index: 0, id: 'call_02', type: 'function', function: { name: 'get_weather', arguments: '' } }] }))
        for (const args of ['{"city"', ':"Par', 'is","unit":"cel', 'sius"}']) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] }))
      }
      events.push(chunk({}, tool ? 'tool_calls' : 'stop'))
      const includeUsage = (body['stream_options'] as Record<string, unknown> | undefined)?.['include_usage'] === true
      if (includeUsage)
        events.push(`data: ${JSON.stringify({ id: 'chatcmpl-02', object: 'chat.completion.chunk', created: 1, model: 'gpt-fake-1', choices: [], usage })}\n\n`)
      events.push('data: [DONE]\n\n')
      await sse(res, events)
    },
    (req) => req.headers['authorization'] === `Bearer ${apiKey}`,
  )
}
