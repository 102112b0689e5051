/**
 * The mesh component: libp2p identity, cluster secret, discovery (mDNS + explicit peers +
 * peers-of-peers), state gossip and request forwarding. Others import it from here.
 *
 * @example
 * const mesh = createMesh({ logger, localState, onForward }, { home, secret, listen, peers })
 * await mesh.start()
 * mesh.on('peer:joined', (peer) => …)
 * const res = await mesh.forward(peer.id, request, { signal })
 */
import { Mesh, type MeshComponents, type MeshInit } from './mesh.ts'

export { Mesh } from './mesh.ts'
export type { MeshComponents, MeshEvents, MeshInit } from './mesh.ts'
export type { ForwardHandler } from './forward-server.ts'
export type { StreamPoolStats } from './stream-pool.ts'
export type { RefusalKind } from './refusals.ts'
export type { MeshService, MeshServiceContext } from './service.ts'
export { FORWARD_PROTOCOL, STATE_PROTOCOL } from './constants.ts'
export { MESH_SECRET_MISSING, generateSwarmKey, parseSwarmKey } from './secret.ts'
export { PEER_KEY_FILE, loadOrCreatePeerKey } from './identity.ts'
export type * from './types.ts'

export function createMesh(components: MeshComponents, init: MeshInit): Mesh {
  return new Mesh(components, init)
}
