/**
 * A local target served by an upstream whose every answer a test scripts (what
 * llama-server would write, how it stops): `serve` runs the real serveLocal against it.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { Agent } from 'undici'
import { serveLocal } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import { profile } from '../api/helpers.ts'

export interface ScriptedUpstream {
  /** How the upstream answers the next requests. */
  script: (res: ServerResponse) => void
  /** A chat request for `m:default` through serveLocal to the upstream (`signal`: the client's; absent: one that never aborts). */
  serve(stream: boolean, signal?: AbortSignal): Promise<UpstreamResponse>
  /** Leases released so far (one per finished, failed or dropped answer). */
  readonly released: number
  close(): Promise<void>
}

export async function scriptedUpstream(): Promise<ScriptedUpstream> {
  const dispatcher = new Agent()
  const upstream = createServer((req, res) => {
    req.resume()
    handle.script(res)
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const p = profile('m:default')
  const handle: ScriptedUpstream = {
    script: () => {},
    released: 0,
    serve(stream, signal) {
      const req: RouteRequest = {
        requestId: 'r1',
        endpoint: 'chat',
        path: '/v1/chat/completions',
        profileId: p.id,
        body: Buffer.from('{}'),
        stream,
        hops: 0,
        headers: {},
        signal: signal ?? new AbortController().signal,
      }
      return serveLocal(
        {
          logger: pino({ level: 'silent' }),
          nodeName: 'self',
          dispatcher,
          profile: () => p,
          instances: {
            acquire: async () => ({
              instanceId: 'i1',
              baseUrl,
              exited: new AbortController().signal,
              release: () => void (handle as { released: number }).released++,
            }),
          },
        },
        req,
      )
    },
    async close() {
      await dispatcher.close()
      await new Promise((resolve) => upstream.close(resolve))
    },
  }
  return handle
}
