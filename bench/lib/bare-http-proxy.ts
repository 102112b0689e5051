/**
 * The floor under the floor: node:http + an undici Agent relaying the body as a stream,
 * with no framework at all. What bare-proxy.ts (fastify + undici) adds beyond this is
 * fastify's own per-request cost; what this adds beyond direct is the hop itself.
 *
 *   node bench/lib/bare-http-proxy.ts --upstream http://127.0.0.1:PORT
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream'
import { parseArgs } from 'node:util'
import { Agent } from 'undici'
import { serveProbes } from './probe.ts'

const { values } = parseArgs({ options: { upstream: { type: 'string' } } })
const upstream = values.upstream
if (upstream === undefined) throw new Error('--upstream http://host:port is required')
const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    dispatcher
      .request({
        origin: upstream,
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: req.headers.accept ?? '*/*' },
        body: Buffer.concat(chunks),
      })
      .then(
        (up) => {
          const type = up.headers['content-type']
          res.writeHead(up.statusCode, typeof type === 'string' ? { 'content-type': type } : {})
          // pipeline: backpressure, and the upstream body destroyed when the client goes.
          pipeline(up.body, res, () => {})
        },
        () => res.writeHead(502).end(),
      )
  })
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
})
serveProbes(() => void server.close(() => void dispatcher.close()))
