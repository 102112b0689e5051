/** Protocol ids and defaults of the mesh; SPEC.md ("Mesh") quotes these. */

export const STATE_PROTOCOL = '/herd/state/1.0.0'
export const FORWARD_PROTOCOL = '/herd/forward/1.0.0'

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/7946']
export const DEFAULT_GOSSIP_INTERVAL_MS = 1000
export const DEFAULT_PEER_TIMEOUT_MS = 10_000
/** Changes landing within this window go out as one push. */
export const DEFAULT_GOSSIP_DEBOUNCE_MS = 50
/**
 * Changes that keep coming (load under sustained traffic) go out at most this often (and at
 * most 4 per heartbeat): a lone change still goes out after the debounce.
 */
export const DEFAULT_GOSSIP_SUSTAINED_INTERVAL_MS = 250
/** A state older than this many heartbeats is stale: its node is not routed to. */
export const FRESH_HEARTBEATS = 3
/** Its own tag keeps herd apart from other libp2p software answering on the LAN. */
export const DEFAULT_MDNS_SERVICE_TAG = '_herd._udp.local'
export const DEFAULT_MDNS_INTERVAL_MS = 10_000

/**
 * Responses often land in one socket read, so a burst of releases comes before the next
 * acquires: with 8 kept, a third of the requests at 16 in flight paid a new stream (and its
 * multistream negotiation). Idle streams still count against the peer's 64 (MAX_INBOUND_STREAMS_PER_PEER).
 */
export const DEFAULT_MAX_IDLE_STREAMS_PER_PEER = 32
/** Concurrent forward streams per connection and direction, as libp2p counts them (its default, 32, is tight for a busy peer). */
export const MAX_FORWARD_STREAMS = 256
/**
 * Forward streams one peer may hold open on this node at once, idle pooled ones included.
 * Each may buffer about a receive window (1 MiB) plus the reader's mark (256 KiB) unread.
 */
export const MAX_INBOUND_STREAMS_PER_PEER = 64
/** Request body limit when the daemon passes none (it passes `http.body_limit_bytes`). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024
/** Request bodies buffered for one peer at once (bodies are read whole before serving). */
export const MAX_BUFFERED_BYTES_PER_PEER = 32 * 1024 * 1024

export const DIAL_BACKOFF_BASE_MS = 500
export const DIAL_BACKOFF_MAX_MS = 30_000
/** Addresses learned from gossip or mDNS are dropped after this long without being heard again while unreachable. */
export const LEARNED_ADDRESS_TTL_MS = 60_000
/** Peers learned from gossip or mDNS that the dialer keeps at once (configured peers come on top). */
export const MAX_LEARNED_TARGETS = 256
/** Dials started per second, all targets together (a burst of this many is allowed). */
export const MAX_DIALS_PER_SECOND = 10
/** Addresses tried per peer. */
export const MAX_ADDRS_PER_PEER = 16
