/** Builders for the backends tests: a backend spec from cookbook fields, a route request, a capturing logger. */
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { backendSchema, buildBackend, type BackendSpec } from '../../src/config/index.ts'
import type { RouteRequest } from '../../src/router/types.ts'

/** A spec as the cookbook would give it; `env` holds the variables `api_key_env` may name. */
export function spec(fields: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<BackendSpec> {
  const file = backendSchema.parse({ name: 'be', protocol: 'openai', models: ['fake-model'], ...fields })
  return buildBackend(file, { dir: '/nonexistent', env, source: 'test.yaml', where: `backends[${file.name}]` })
}

export function routeRequest(over: Partial<RouteRequest> = {}): RouteRequest {
  const body = over.body ?? Buffer.from(JSON.stringify({ model: 'be/fake-model', messages: [{ role: 'user', content: 'hi' }] }))
  return {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: 'be/fake-model',
    stream: false,
    hops: 0,
    headers: { 'content-type': 'application/json' },
    signal: new AbortController().signal,
    ...over,
    body,
  }
}

/** A pino logger at trace whose raw lines are kept (to grep them for secrets) and parsed. */
export function capture(): { logger: Logger; text: () => string; lines: () => Record<string, unknown>[] } {
  let raw = ''
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString()
      done()
    },
  })
  const logger = pino({ level: 'trace' }, stream)
  return {
    logger,
    text: () => raw,
    lines: () =>
      raw
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}
