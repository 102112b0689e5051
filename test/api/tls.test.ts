import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { Daemon } from '../../src/daemon.ts'
import { selfSignedPair } from '../helpers/tls.ts'
import { cookbook, json, profile, sse, testApp } from './helpers.ts'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function tlsApp(): Promise<{ url: URL; ca: string }> {
  const pair = await selfSignedPair()
  const { app } = testApp({
    cookbook: cookbook([profile('tiny:default')]),
    apiKeys: ['k1'],
    route: async (req) => (req.stream ? sse(['{"n":1}', '{"n":2}', '[DONE]']) : json({ ok: true })),
    over: { tls: { cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) } },
  })
  cleanups.push(() => (app as FastifyInstance).close())
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url: new URL(address), ca: pair.cert }
}

describe('TLS on the HTTP API', () => {
  it('answers HTTP/1.1 clients over HTTPS, with the key still required', async () => {
    const { url, ca } = await tlsApp()
    expect(url.protocol).toBe('https:')
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string; protocol: string }>((resolve, reject) => {
        const req = httpsRequest({ host: url.hostname, port: url.port, path: '/v1/models', ca, headers }, (res) => {
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol: res.httpVersion }))
        })
        req.on('error', reject)
        req.end()
      })
    const denied = await get({})
    expect(denied.status).toBe(401)
    const ok = await get({ authorization: 'Bearer k1' })
    expect(ok).toMatchObject({ status: 200, protocol: '1.1' })
    expect(JSON.parse(ok.body)).toMatchObject({ object: 'list' })
  })

  it('speaks HTTP/2 to clients that offer it by ALPN, on the same port', async () => {
    const { url, ca } = await tlsApp()
    const session = connect(url.origin, { ca })
    cleanups.push(() => new Promise<void>((resolve) => session.close(() => resolve())))
    await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject))
    expect(session.alpnProtocol).toBe('h2')
    const stream = session.request({ ':path': '/v1/models', authorization: 'Bearer k1' })
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      let status = 0
      let body = ''
      stream.on('response', (h) => (status = Number(h[':status'])))
      stream.on('data', (c: Buffer) => (body += c.toString()))
      stream.on('end', () => resolve({ status, body }))
      stream.on('error', reject)
    })
    expect(status).toBe(200)
    expect(JSON.parse(body)).toMatchObject({ object: 'list' })
    // A stream relayed over HTTP/2: no HTTP/1.1 framing headers (HTTP/2 forbids them), events intact.
    const chat = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', authorization: 'Bearer k1', 'content-type': 'application/json' })
    chat.end(JSON.stringify({ model: 'tiny', stream: true, messages: [] }))
    const streamed = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      let headers: Record<string, unknown> = {}
      let body = ''
      chat.on('response', (h) => (headers = h))
      chat.on('data', (c: Buffer) => (body += c.toString()))
      chat.on('end', () => resolve({ headers, body }))
      chat.on('error', reject)
    })
    expect(streamed.headers[':status']).toBe(200)
    expect(streamed.headers['content-type']).toContain('text/event-stream')
    expect(streamed.body).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n')
  })

  it('stops the start naming the file when a certificate cannot be read or does not match', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herd-tls-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'cookbook.yaml'), 'models: []\n')
    await writeFile(join(dir, 'config.yaml'), 'http:\n  tls: { cert_file: missing.pem, key_file: key.pem }\n')
    await expect(Daemon.create({ configFile: join(dir, 'config.yaml'), env: { HERD_HOME: dir } })).rejects.toThrow(
      `http.tls.cert_file ${join(dir, 'missing.pem')} cannot be read`,
    )
    const a = await selfSignedPair()
    const b = await selfSignedPair()
    await writeFile(join(dir, 'cert.pem'), a.cert)
    await writeFile(join(dir, 'key.pem'), b.key)
    await writeFile(join(dir, 'config.yaml'), 'http:\n  tls: { cert_file: cert.pem, key_file: key.pem }\n')
    await expect(Daemon.create({ configFile: join(dir, 'config.yaml'), env: { HERD_HOME: dir } })).rejects.toThrow('are not a usable certificate and key')
  })
})
