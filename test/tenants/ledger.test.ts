/** The usage ledger: settled answers summed per key × model × node × hour, read back grouped; cache hits at cost 0; streams asked for usage. */
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { UsageLedger } from '../../src/tenants/index.ts'
import { askForUsage, isUsageChunk, usageChunkFilter } from '../../src/tenants/stream-usage.ts'
import { tapUsage } from '../../src/tenants/usage-tap.ts'
import { rememberParsedBody, type RouteRequest } from '../../src/router/types.ts'
import { memoryTenants } from './helpers.ts'

const H = 3_600_000
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (24 * H))

function entry(over: Partial<Parameters<UsageLedger['record']>[0]> = {}): Parameters<UsageLedger['record']>[0] {
  return { keyId: 'key_a', model: 'm:default', node: 'n1', at: T0, promptTokens: 10, completionTokens: 5, costMicros: 100, ...over }
}

function route(body: unknown, over: Partial<RouteRequest> = {}): RouteRequest {
  return {
    requestId: 'r',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: 'm:default',
    body: Buffer.from(JSON.stringify(body)),
    stream: true,
    hops: 0,
    headers: {},
    signal: new AbortController().signal,
    ...over,
  }
}

describe('the usage ledger', () => {
  it('sums answers per key, model, node and hour, and groups them on reading', () => {
    const ledger = new UsageLedger(':memory:')
    ledger.record(entry())
    ledger.record(entry({ at: T0 + 10 }))
    ledger.record(entry({ at: T0 + H, model: 'other', costMicros: 1000 }))
    ledger.record(entry({ keyId: 'key_b', node: 'n2', at: T0 + 25 * H }))
    ledger.flush()
    ledger.record(entry({ at: T0 + 20 }))
    expect(ledger.query({ from: T0, to: T0 + 48 * H, groupBy: [] })).toEqual([
      { requests: 5, prompt_tokens: 50, completion_tokens: 25, cost_micros: 1400, cache_hits: 0 },
    ])
    expect(ledger.query({ from: T0, to: T0 + 48 * H, groupBy: ['key', 'day'] })).toEqual([
      { key: 'key_a', day: new Date(T0).toISOString().slice(0, 10), requests: 4, prompt_tokens: 40, completion_tokens: 20, cost_micros: 1300, cache_hits: 0 },
      {
        key: 'key_b',
        day: new Date(T0 + 24 * H).toISOString().slice(0, 10),
        requests: 1,
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_micros: 100,
        cache_hits: 0,
      },
    ])
    expect(ledger.query({ from: T0, to: T0 + H, groupBy: ['model'] })).toEqual([
      { model: 'm:default', requests: 3, prompt_tokens: 30, completion_tokens: 15, cost_micros: 300, cache_hits: 0 },
    ])
    expect(ledger.query({ from: T0 + 2 * H, to: T0 + 3 * H, groupBy: ['node'] })).toEqual([])
    ledger.close()
  })

  it('keeps rows apart whose names, joined, would read the same (a NUL in a peer-given name)', () => {
    const ledger = new UsageLedger(':memory:')
    ledger.record(entry({ model: 'm\u0000n1', node: 'x' }))
    ledger.record(entry({ model: 'm', node: 'n1\u0000x', costMicros: 7 }))
    ledger.record(entry({ model: 'm', node: 'n1\u0000x', costMicros: 7 }))
    // (SQLite reads a text back only up to its NUL: the sums say which rows were kept apart.)
    const rows = ledger.query({ from: T0, to: T0 + H, groupBy: ['model', 'node'] })
    expect(rows.map((r) => [r.requests, r.cost_micros])).toEqual([
      [1, 100],
      [2, 14],
    ])
    ledger.close()
  })

  it('counts settled answers of Tenants, and cache hits as requests at cost 0', async () => {
    const { tenants, clock } = await memoryTenants({ cost: (u) => u.promptTokens * 2 + u.completionTokens * 10 })
    const { record } = tenants.createKey({ name: 'app' })
    const tenant = { id: record.id, name: record.name, noEgress: false, record }
    const admission = tenants.admit(tenant, route({ model: 'm' }, { stream: false }))
    const res = admission.meter({
      status: 200,
      headers: { 'content-type': 'application/json', 'x-herd-model': 'm:default' },
      body: Readable.from([Buffer.from('{"usage":{"prompt_tokens":7,"completion_tokens":3}}')]),
      servedBy: 'n1',
    })
    await text(res.body)
    tenants.recordCacheHit({ keyId: record.id, model: 'm:default', promptTokens: 7, completionTokens: 3 })
    expect(tenants.ledger.query({ from: clock.now - H, to: clock.now + H, groupBy: ['key', 'model'] })).toEqual([
      { key: record.id, model: 'm:default', requests: 2, prompt_tokens: 14, completion_tokens: 6, cost_micros: 44, cache_hits: 1 },
    ])
    await tenants.stop()
  })
})

describe('usage from streams', () => {
  it('asks a streaming chat for usage and says to strip it when the client did not ask', () => {
    const asked = askForUsage(route({ model: 'm', stream: true }))
    expect(asked.strip).toBe(true)
    expect(JSON.parse(asked.route.body.toString())).toEqual({ model: 'm', stream: true, stream_options: { include_usage: true } })
    const own = route({ model: 'm', stream: true, stream_options: { include_usage: true } })
    expect(askForUsage(own)).toEqual({ route: own, strip: false })
    const plain = route({ model: 'm' }, { stream: false })
    expect(askForUsage(plain).route).toBe(plain)
    expect(askForUsage(route({ model: 'm', stream: true }, { endpoint: 'messages' })).strip).toBe(false)
  })

  it("puts include_usage in front of the client's own bytes when the body has no stream_options (nothing re-serialized)", () => {
    // Spacing, key order and a number JSON.stringify would rewrite (1.0) survive: only the member is added.
    const raw = ' \n{ "model" : "m", "stream": true, "temperature": 1.0, "messages": [{"role":"user","content":"héllo"}] }'
    const asked = askForUsage(route({}, { body: Buffer.from(raw) }))
    expect(asked.strip).toBe(true)
    expect(asked.route.body.toString()).toBe(
      ' \n{"stream_options":{"include_usage":true}, "model" : "m", "stream": true, "temperature": 1.0, "messages": [{"role":"user","content":"héllo"}] }',
    )
    expect(JSON.parse(asked.route.body.toString())).toMatchObject({ model: 'm', stream: true, stream_options: { include_usage: true } })
    // An empty object (the model from default_model) takes no comma.
    const empty = askForUsage(rememberParsedBody(route({}, { body: Buffer.from('{}') }), {}))
    expect(empty.route.body.toString()).toBe('{"stream_options":{"include_usage":true}}')
  })

  it('adds include_usage to the object validation parsed the body into, serialising it once (a replaced body is parsed anew)', () => {
    const body = Buffer.from(JSON.stringify({ model: 'm', stream: true, stream_options: { foo: 1 } }))
    // What prepareRoute remembers; a different object than the bytes say shows which one was read.
    const asked = askForUsage(rememberParsedBody(route({}, { body }), { model: 'parsed', stream: true, stream_options: { foo: 2 } }))
    expect(JSON.parse(asked.route.body.toString())).toEqual({ model: 'parsed', stream: true, stream_options: { foo: 2, include_usage: true } })
    // A copy of the request with another body still carries the old pair: the bytes are read, not the stale object.
    const replaced = askForUsage({ ...rememberParsedBody(route({}, { body }), { model: 'parsed' }), body: Buffer.from('{"model":"m","stream":true}') })
    expect(JSON.parse(replaced.route.body.toString())).toEqual({ model: 'm', stream: true, stream_options: { include_usage: true } })
    const fresh = askForUsage(route({ model: 'm', stream: true, stream_options: { foo: 1 } }))
    expect(JSON.parse(fresh.route.body.toString())).toEqual({ model: 'm', stream: true, stream_options: { foo: 1, include_usage: true } })
  })

  it('drops only the usage-only chunk and keeps every other byte', async () => {
    const events = [
      'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n',
      'data: {"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}\n\n',
      'data: {"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n',
      'data: [DONE]\n\n',
    ]
    const joined = events.join('')
    // Cut at odd places, so events span chunks.
    const chunks = [joined.slice(0, 7), joined.slice(7, 60), joined.slice(60, 150), joined.slice(150)].map((s) => Buffer.from(s))
    let seen: unknown
    const res = tapUsage(
      { status: 200, headers: { 'content-type': 'text/event-stream' }, body: Readable.from(chunks), servedBy: 'n' },
      (u) => (seen = u),
      usageChunkFilter(),
    )
    expect(await text(res.body)).toBe(events[0]! + events[1]! + events[3]!)
    // The tap read the usage before the chunk was taken out.
    expect(seen).toEqual({ promptTokens: 1, completionTokens: 2 })
    expect(isUsageChunk(events[2]!)).toBe(true)
    expect(isUsageChunk(events[1]!)).toBe(false)
    // One whole event per chunk (llama-server's way): each passes as it came, the usage-only one is dropped.
    const filter = usageChunkFilter()
    const passed = events.map((e) => filter.push(Buffer.from(e))?.toString())
    expect(passed).toEqual([events[0], events[1], undefined, events[3]])
    expect(filter.end()).toBeUndefined()
  })
})
