/**
 * A peer's answer is served, not trusted: its headers pass the allow-list (framing is
 * herd's), and its error bodies are read only so far and so long.
 */
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { MAX_RELAYED_HEADERS, relayableHeaders } from '../../src/router/headers.ts'
import { MAX_REMOTE_ERROR_BYTES, rejectRemoteError } from '../../src/router/remote-error.ts'
import type { UpstreamResponse } from '../../src/router/types.ts'
import { cookbook, profile, testApp } from '../api/helpers.ts'

function answer(headers: Record<string, string>, body: Readable, status = 200): UpstreamResponse {
  return { status, headers, body, servedBy: 'peer-b' }
}

/** A body of `total` bytes made on demand; `pulled()` says how much of it was read. */
function lazyBody(total: number, chunk = 64 * 1024): { body: Readable; pulled: () => number } {
  let made = 0
  const body = new Readable({
    read() {
      if (made >= total) return void this.push(null)
      const n = Math.min(chunk, total - made)
      made += n
      this.push(Buffer.alloc(n, 0x61))
    },
  })
  return { body, pulled: () => made }
}

describe('relayableHeaders', () => {
  it('drops values with CR or LF, names that are not tokens, and anything off the allow-list', () => {
    const out = relayableHeaders({
      'content-type': 'application/json',
      'x-ok': 'fine',
      'x-split': 'a\r\nset-cookie: pwned=1',
      'x-nul': 'a\u0000b',
      'bad name': 'v',
      'x-évil': 'v',
      'set-cookie': 'session=stolen',
      location: 'http://elsewhere/',
      'content-encoding': 'gzip',
      'access-control-allow-origin': '*',
    })
    expect(out).toEqual({ 'content-type': 'application/json', 'x-ok': 'fine' })
  })

  it("never passes framing or herd's own headers from a peer; a trusted upstream keeps a numeric content-length", () => {
    const raw = {
      'content-length': '999999',
      'transfer-encoding': 'chunked',
      connection: 'close',
      'keep-alive': 'timeout=5',
      'x-herd-node': 'liar',
      'x-request-id': 'forged',
      'x-herd-error': 'queue_full',
      'retry-after': '2',
    }
    expect(relayableHeaders(raw)).toEqual({ 'x-herd-error': 'queue_full', 'retry-after': '2' })
    expect(relayableHeaders({ 'content-length': '12' }, { trustLength: true })).toEqual({ 'content-length': '12' })
    expect(relayableHeaders({ 'content-length': '12', 'transfer-encoding': 'chunked' }, { trustLength: true })).toEqual({})
    expect(relayableHeaders({ 'content-length': '12, 13' }, { trustLength: true })).toEqual({})
  })

  it(`keeps at most ${MAX_RELAYED_HEADERS} headers and drops huge values`, () => {
    const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-h${i}`, 'v']))
    expect(Object.keys(relayableHeaders({ ...many, 'x-huge': 'v'.repeat(100_000) }))).toHaveLength(MAX_RELAYED_HEADERS)
    expect(relayableHeaders({ 'x-huge': 'v'.repeat(100_000) })).toEqual({})
  })
})

describe('rejectRemoteError', () => {
  it('hands a normal answer on with its headers sanitised', async () => {
    const res = await rejectRemoteError(answer({ 'content-type': 'text/plain', 'content-length': '5', 'x-bad': 'a\nb' }, Readable.from(['hello'])), 'b')
    expect(res.headers).toEqual({ 'content-type': 'text/plain' })
  })

  it('reads at most 64 KiB of a 64 MiB error body and still answers with the peer code', async () => {
    const { body, pulled } = lazyBody(64 * 1024 * 1024)
    const err = await rejectRemoteError(answer({ 'x-herd-error': 'queue_full', 'retry-after': '3' }, body, 503), 'b').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HerdError)
    expect(err).toMatchObject({ code: 'queue_full', retryAfterSeconds: 3 })
    expect(pulled()).toBeLessThanOrEqual(MAX_REMOTE_ERROR_BYTES + 2 * 64 * 1024)
    expect(body.destroyed).toBe(true)
  })

  it('gives up on an error body that trickles for ever and answers within the deadline', async () => {
    const body = new Readable({ read() {} })
    const timer = setInterval(() => body.push('{'), 20)
    try {
      const t0 = Date.now()
      const err = await rejectRemoteError(answer({ 'x-herd-error': 'no_capacity' }, body, 503), 'b', { timeoutMs: 300 }).catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(1000)
      expect(err).toMatchObject({ code: 'no_capacity' })
      expect((err as Error).message).toMatch(/peer b answered 503/)
      expect(body.destroyed).toBe(true)
    } finally {
      clearInterval(timer)
    }
  })

  it("cuts a peer's long error message and ignores an absurd Retry-After", async () => {
    const envelope = JSON.stringify({ error: { message: 'm'.repeat(100_000) } })
    const err = await rejectRemoteError(answer({ 'x-herd-error': 'queue_full', 'retry-after': '1e12' }, Readable.from([envelope]), 503), 'b').catch(
      (e: unknown) => e,
    )
    expect((err as Error).message.length).toBeLessThan(1200)
    expect((err as HerdError).retryAfterSeconds).toBe(3600)
  })
})

describe('a peer answer relayed to the client', () => {
  const cb = cookbook([profile('tiny')])

  it('answers 200 with the body when the peer sent CR/LF in a header and a lying content-length', async () => {
    const { app } = testApp({
      cookbook: cb,
      route: async () =>
        rejectRemoteError(
          answer(
            { 'content-type': 'application/json', 'x-evil': 'a\r\nx-injected: 1', 'content-length': '999999' },
            Readable.from([Buffer.from('{"ok":true}')]),
          ),
          'b',
        ),
    })
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'tiny' } })
      expect(res.statusCode).toBe(200)
      expect(res.body).toBe('{"ok":true}')
      expect(res.headers['x-injected']).toBeUndefined()
      expect(res.headers['x-evil']).toBeUndefined()
      expect(res.headers['content-length'] ?? '11').toBe('11')
      expect(res.headers['x-herd-node']).toBe('peer-b')
    } finally {
      await app.close()
    }
  })
})
