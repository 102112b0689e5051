/** Builders for response-cache tests: queries, answers, and reading a replay back. */
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import type { CacheQuery, CacheTicket } from '../../src/cache/index.ts'
import type { UpstreamResponse } from '../../src/router/types.ts'

export function query(body: Record<string, unknown>, over: Partial<CacheQuery> = {}): CacheQuery {
  return {
    endpoint: 'chat',
    models: ['tiny:default'],
    body: Buffer.from(JSON.stringify(body)),
    stream: false,
    mode: 'default',
    keyScope: 'key-a',
    requestId: 'r1',
    signal: new AbortController().signal,
    ...over,
  }
}

export const ask = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'tiny',
  temperature: 0,
  messages: [{ role: 'user', content }],
  ...extra,
})

export function answer(body: string, over: Partial<UpstreamResponse> = {}): UpstreamResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-herd-model': 'tiny:default' },
    body: Readable.from([Buffer.from(body)]),
    servedBy: 'up',
    ...over,
  }
}

/** Run a miss's answer through the ticket to its end (as a client reading it would). */
export async function record(ticket: CacheTicket, res: UpstreamResponse): Promise<string> {
  if (ticket.state !== 'miss') throw new Error(`expected a miss, got ${ticket.state}`)
  return text(ticket.record(res).body)
}

export async function replayed(ticket: CacheTicket): Promise<string> {
  if (ticket.state !== 'hit') throw new Error(`expected a hit, got ${ticket.state}`)
  return text(ticket.replay('node-a').body)
}
