/**
 * The dashboard's page shell at `GET /` and its assets under `/ui/`: open routes (they
 * hold no data; every figure the page shows comes from key-protected routes, called with
 * the key the page asks for). The files are read once, on first request, from the package
 * (no CDN, no build step), and sent with a policy that lets them load nothing from
 * elsewhere and be framed by nobody.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { HerdError } from '../errors/index.ts'
import { HERD_ROOT } from '../paths.ts'

// Served from the source tree, bundled or not: the build does not copy them.
const STATIC = join(HERD_ROOT, 'src', 'ui', 'static')

/** The files served, by the path under `/ui/` (nothing else is read from disk). */
export const UI_ASSETS: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

export function uiRoutes(app: FastifyInstance, options: { dir?: string } = {}): void {
  const dir = options.dir ?? STATIC
  const cache = new Map<string, Promise<Buffer>>()
  const file = (name: string): Promise<Buffer> => {
    let p = cache.get(name)
    if (p === undefined) {
      p = readFile(join(dir, name))
      cache.set(name, p)
      p.catch(() => cache.delete(name))
    }
    return p
  }
  const send = async (reply: FastifyReply, name: string, type: string): Promise<FastifyReply> =>
    reply
      .headers(SECURITY_HEADERS)
      .type(type)
      .send(await file(name))
  app.get('/', { config: { auth: 'open' } }, async (_request, reply) => send(reply, 'index.html', 'text/html; charset=utf-8'))
  app.get<{ Params: { file: string } }>('/ui/:file', { config: { auth: 'open' } }, async (request, reply) => {
    const name = request.params.file
    const type = Object.hasOwn(UI_ASSETS, name) ? UI_ASSETS[name] : undefined
    if (type === undefined) throw new HerdError('not_found', 'no such dashboard file')
    return send(reply, name, type)
  })
}
