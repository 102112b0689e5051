/**
 * Admin operations on another node, for the dashboard: an instance's log lines, prewarm and
 * unload travel to the node that runs them as forward requests (`/herd/forward/1.0.0`, the
 * same streams models use), and its JSON answer (or error) comes back.
 *
 * Trust: the admin key is checked on the node the operator asked (its `/admin/*` routes
 * are `auth: 'admin'`); the node that runs the operation trusts the mesh for these three
 * paths, as it trusts it to route: only nodes holding the cluster secret (and on
 * `mesh.allow`, when set) can open a stream. A forwarded admin request must come straight
 * from the asking node (hops 1), and nothing else under `/admin/` is served over the mesh.
 */
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { HerdError } from '../errors/index.ts'
import type { ForwardRequest } from '../mesh/types.ts'
import { readCapped, rejectRemoteError } from '../router/index.ts'
import type { UpstreamResponse } from '../router/types.ts'
import type { ApiDeps } from './app.ts'
import { clip } from './clip.ts'
import { localAdmin, parseAdminBody } from './routes/admin.ts'

/** The largest admin answer read from a peer (log lines are bounded by the instance log ring). */
export const MAX_REMOTE_ADMIN_BYTES = 4 * 1024 * 1024
const REMOTE_ADMIN_TIMEOUT_MS = 120_000

export interface AdminPeer {
  id: string
  name: string
  fresh: boolean
}

export interface MeshAdminDeps {
  selfId: () => string
  selfName: string
  peers: () => readonly AdminPeer[]
  forward: (peerId: string, req: ForwardRequest, options: { signal: AbortSignal }) => Promise<UpstreamResponse>
}

export interface RemoteAdminRequest {
  method: 'GET' | 'POST'
  path: string
  body: Record<string, unknown> | undefined
  signal: AbortSignal
}

/** The asking side: whether a `node` names this node, and the answer of another one. */
export function meshAdmin(deps: MeshAdminDeps): { isSelf(node: string): boolean; remote(node: string, req: RemoteAdminRequest): Promise<unknown> } {
  return {
    isSelf: (node) => node === deps.selfId() || node === deps.selfName,
    async remote(node, req) {
      const peers = deps.peers().filter((p) => p.id === node || p.name === node)
      const peer = peers.find((p) => p.fresh) ?? peers[0]
      if (peer === undefined) throw new HerdError('not_found', `no node '${clip(node)}' in the mesh`, { param: 'node' })
      const res = await rejectRemoteError(
        await deps.forward(
          peer.id,
          {
            requestId: randomUUID(),
            method: req.method,
            path: req.path,
            headers: { 'content-type': 'application/json' },
            hops: 1,
            body: req.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(req.body)),
          },
          { signal: req.signal },
        ),
        peer.name,
      )
      const text = await readCapped(res.body, MAX_REMOTE_ADMIN_BYTES, REMOTE_ADMIN_TIMEOUT_MS)
      try {
        return JSON.parse(text) as unknown
      } catch {
        throw new HerdError('upstream_error', `node ${clip(peer.name)} sent an admin answer that is not JSON`)
      }
    },
  }
}

/** A peer's admin request (served by adminForward), not one to route by model. */
export function isAdminForward(fwd: ForwardRequest): boolean {
  const path = fwd.path.split('?', 1)[0] ?? ''
  return path.startsWith('/admin/')
}

/** The serving side: a peer's admin request, answered like the local `/admin/*` route (errors thrown for the forward handler's envelope). */
export async function adminForward(
  deps: Pick<ApiDeps, 'catalog' | 'admin'>,
  nodeName: string,
  fwd: ForwardRequest,
  signal: AbortSignal,
): Promise<UpstreamResponse> {
  if (fwd.hops !== 1) throw new HerdError('max_hops', 'admin requests are served only when they come straight from the asking node')
  const [path = '', search = ''] = fwd.path.split('?', 2)
  let answer: unknown
  if (fwd.method === 'GET' && path === '/admin/logs') {
    const instances = new URLSearchParams(search).getAll('instance')
    answer = localAdmin.logs(deps, instances.length > 1 ? instances : instances[0])
  } else if (fwd.method === 'POST' && path === '/admin/prewarm') answer = await localAdmin.prewarm(deps, parseAdminBody(fwd.body), signal)
  else if (fwd.method === 'POST' && path === '/admin/unload') answer = await localAdmin.unload(deps, parseAdminBody(fwd.body))
  else throw new HerdError('not_found', `no route for ${clip(fwd.method)} ${clip(fwd.path)} over the mesh`)
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(JSON.stringify(answer))]), servedBy: nodeName }
}
