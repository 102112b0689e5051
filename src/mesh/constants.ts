/** Protocol ids and defaults of the mesh; SPEC.md ("Mesh") quotes these. */

export const STATE_PROTOCOL = '/herd/state/1.0.0'
export const FORWARD_PROTOCOL = '/herd/forward/1.0.0'

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/7946']
export const DEFAULT_GOSSIP_INTERVAL_MS = 1000
export const DEFAULT_PEER_TIMEOUT_MS = 10_000
/** Changes landing within this window go out as one push. */
export const DEFAULT_GOSSIP_DEBOUNCE_MS = 50
/** A state older than this many heartbeats is stale: its node is not routed to. */
export const FRESH_HEARTBEATS = 3
/** Its own tag keeps herd apart from other libp2p software answering on the LAN. */
export const DEFAULT_MDNS_SERVICE_TAG = '_herd._udp.local'
export const DEFAULT_MDNS_INTERVAL_MS = 10_000

export const DEFAULT_MAX_IDLE_STREAMS_PER_PEER = 8
/** Concurrent forwarded requests per connection and direction (libp2p's default, 32, is tight for a busy peer). */
export const MAX_FORWARD_STREAMS = 256
export const MAX_BODY_BYTES = 64 * 1024 * 1024

export const DIAL_BACKOFF_BASE_MS = 500
export const DIAL_BACKOFF_MAX_MS = 30_000
/** Addresses learned from gossip or mDNS are dropped after this long without being heard again while unreachable. */
export const LEARNED_ADDRESS_TTL_MS = 60_000
