/** Small multiaddr helpers: the `/p2p/<id>` suffix is how herd names a dialable peer address. */
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { HerdError } from '../errors/index.ts'

export function peerIdOf(ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast((c) => c.code === CODE_P2P)?.value
}

/** `ma` ending in `/p2p/<peerId>` (added when missing). */
export function withPeerId(ma: Multiaddr, peerId: string): Multiaddr {
  return peerIdOf(ma) === undefined ? ma.encapsulate(`/p2p/${peerId}`) : ma
}

/** Parses a user-supplied multiaddr, naming the offending value. */
export function parseMultiaddr(addr: string, what = 'mesh.peers'): Multiaddr {
  try {
    return multiaddr(addr)
  } catch (err: unknown) {
    throw new HerdError('config_invalid', `${what}: '${addr}' is not a multiaddr (e.g. /ip4/192.168.1.7/tcp/7946)`, { cause: err })
  }
}

/** Parses addresses from the network, dropping the ones that do not parse. */
export function parseMultiaddrs(addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const addr of addrs) {
    try {
      out.push(multiaddr(addr))
    } catch {
      // A peer's odd address is its problem; the others may still work.
    }
  }
  return out
}

export function isLoopback(ma: Multiaddr): boolean {
  const ip = ma.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')
  return ip?.value !== undefined && (ip.value.startsWith('127.') || ip.value === '::1')
}

/**
 * A remote peer's loopback address leads back to this machine, usually to this very node
 * (same port): worth dialling only when the peer has nothing else, i.e. it runs here.
 */
export function preferNonLoopback(addrs: Multiaddr[]): Multiaddr[] {
  const remote = addrs.filter((a) => !isLoopback(a))
  return remote.length > 0 ? remote : addrs
}
