/**
 * A local event stream cut off in the middle of an event (llama-server died, or the
 * request's time ran out between two TCP chunks) ends with a clean error event: the
 * half-received event is dropped instead of merging with the error into one broken event.
 */
import { text } from 'node:stream/consumers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedUpstream, type ScriptedUpstream } from './scripted-upstream.ts'

let up: ScriptedUpstream
beforeAll(async () => {
  up = await scriptedUpstream()
})
afterAll(() => up.close())

const serve = async (): Promise<string> => text((await up.serve(true)).body)

describe('a local event stream cut off mid-event', () => {
  it('drops the half event and ends with a parseable error event', async () => {
    up.script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3,"choi')
      setImmediate(() => res.socket?.destroy())
    }
    const events = (await serve()).split('\n\n').filter((e) => e !== '')
    expect(events.slice(0, 2)).toEqual(['data: {"n":1}', 'data: {"n":2}'])
    expect(events).toHaveLength(3)
    const last = JSON.parse((events[2] ?? '').slice('data: '.length)) as { error: { code: string } }
    expect(last.error.code).toBe('upstream_error')
  })

  it('passes events split across chunks through whole, and a stream that ends normally unchanged', async () => {
    up.script = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: {"n":1}\n\ndata: {"n"')
      setImmediate(() => res.end(':2}\n\ndata: [DONE]\n\n'))
    }
    expect(await serve()).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n')
  })
})
