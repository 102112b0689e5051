/**
 * The `mesh:` section of a test daemon's config: on loopback only (mDNS never runs on the
 * machine's real interfaces), told of `peers` explicitly, with a short heartbeat so a test
 * sees gossip within a few hundred milliseconds.
 */
export function loopbackMesh(secretFile: string, peers: string[], timing: { gossip_interval_ms?: number; peer_timeout_ms?: number } = {}) {
  return {
    enabled: true,
    mdns: false,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    peers,
    secret_file: secretFile,
    gossip_interval_ms: timing.gossip_interval_ms ?? 200,
    peer_timeout_ms: timing.peer_timeout_ms ?? 2000,
  }
}
