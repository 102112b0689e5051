/**
 * The floor for any proxy on this machine: fastify + an undici Agent relaying the body
 * as a stream, and nothing else (no request ids, routing, metrics, abort wiring, taps).
 * What herd adds beyond this is herd's own code; what this adds beyond direct is the hop.
 *
 *   node bench/lib/bare-proxy.ts --upstream http://127.0.0.1:PORT
 */
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import { Agent } from 'undici'
import { serveProbes } from './probe.ts'

const { values } = parseArgs({ options: { upstream: { type: 'string' } } })
const upstream = values.upstream
if (upstream === undefined) throw new Error('--upstream http://host:port is required')
const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
app.post('/v1/chat/completions', async (request, reply) => {
  const res = await dispatcher.request({
    origin: upstream,
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: request.headers.accept ?? '*/*' },
    body: request.body as Buffer,
  })
  reply.code(res.statusCode)
  const type = res.headers['content-type']
  if (typeof type === 'string') reply.header('content-type', type)
  return reply.send(res.body)
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`${url}\n`)
serveProbes(() => void app.close().then(() => dispatcher.close()))
