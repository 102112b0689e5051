/**
 * Builds the libp2p node: TCP, the pnet pre-shared key in front of Noise, yamux, identify
 * (so peers learn each other's listen addresses for gossip), ping (the connection monitor
 * uses it), mDNS when asked, and a gater enforcing the allowlist.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { identify, type Identify } from '@libp2p/identify'
import type { ConnectionGater, PeerId, PrivateKey } from '@libp2p/interface'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'

const MAX_STREAM_WINDOW_BYTES = 1024 * 1024

export type MeshLibp2p = Libp2p<{ identify: Identify; ping: Ping }>

export interface Libp2pNodeInit {
  privateKey: PrivateKey
  listen: string[]
  /** Swarm key file content, as `parseSwarmKey` returns it. */
  psk: Uint8Array
  /** Peer ids allowed to connect; empty: anyone holding the secret. */
  allow: ReadonlySet<string>
  mdns: false | { serviceTag: string; intervalMs: number }
}

export function allowlistGater(allow: ReadonlySet<string>): ConnectionGater {
  const denied = (peer: PeerId): boolean => allow.size > 0 && !allow.has(peer.toString())
  return {
    denyDialPeer: denied,
    denyInboundEncryptedConnection: denied,
    denyOutboundEncryptedConnection: denied,
  }
}

/** Creates the node, not started: the mesh registers its handlers first. */
export async function createLibp2pNode(init: Libp2pNodeInit): Promise<MeshLibp2p> {
  // mDNS (and its DNS packet codec) loads only where it is on.
  const mdns = init.mdns === false ? undefined : (await import('@libp2p/mdns')).mdns
  return createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // yamux grows a stream's receive window up to 16 MiB by default; a paused stream then
    // still takes a whole window, more than the 4 MiB a paused stream may buffer. 1 MiB
    // bounds what a slow reader holds and still fills a LAN link.
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES } })],
    connectionProtector: preSharedKey({ psk: init.psk }),
    connectionGater: allowlistGater(init.allow),
    // libp2p's defaults (5 inbound connections a second per IP, 10 pending) refuse a
    // joining mesh's dials whenever several nodes share an address: NAT, loopback, or a
    // host running several daemons. Refused dials back off, and discovery crawls.
    connectionManager: { inboundConnectionThreshold: 100, maxIncomingPendingConnections: 64 },
    peerDiscovery: init.mdns === false || mdns === undefined ? [] : [mdns({ serviceTag: init.mdns.serviceTag, interval: init.mdns.intervalMs })],
    services: {
      identify: identify(),
      ping: ping(),
    },
  })
}
