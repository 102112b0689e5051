/**
 * The mesh: one libp2p node plus the herd protocols on it. It keeps the node connected
 * (dialer), gossips this node's state and collects the peers' (gossip, peer table), and
 * forwards requests to peers (stream pool, forward client) and serves theirs (forward
 * server). Typed events: 'peer:joined', 'peer:state', 'peer:left'.
 */
import { EventEmitter } from 'node:events'
import type { IdentifyResult, PeerId, PeerInfo } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { HerdError } from '../errors/index.ts'
import type { UpstreamResponse, WaitState } from '../router/types.ts'
import { parseMultiaddrs, withPeerId } from './addrs.ts'
import * as C from './constants.ts'
import { Dialer } from './dialer.ts'
import { ForwardClient } from './forward-client.ts'
import { ForwardServer, type ForwardHandler } from './forward-server.ts'
import { Gossip } from './gossip.ts'
import { loadOrCreatePeerKey } from './identity.ts'
import { createLibp2pNode, type MeshLibp2p } from './node.ts'
import { PeerTable, type PeerRecord } from './peer-table.ts'
import { Refusals, type RefusalKind } from './refusals.ts'
import type { MeshService } from './service.ts'
import { MESH_SECRET_MISSING, parseSwarmKey } from './secret.ts'
import { StreamPool, type StreamPoolStats } from './stream-pool.ts'
import type { ForwardRequest, NodeState, PeerAddress, PeerView } from './types.ts'

export interface MeshComponents {
  logger: Logger
  /** This node's state; the mesh fills in `id`, `seq` and `peers`. Called for every push. */
  localState: () => Omit<NodeState, 'id' | 'seq' | 'peers'>
  /** Serves a request a peer forwarded here (locally: it never forwards again). */
  onForward: ForwardHandler
  /** Other protocols run over the same connections (tenants replication). @default [] */
  services?: MeshService[]
}

export interface MeshInit {
  /** Folder holding `peer-key` (created on first start). Required. */
  home: string
  /** Cluster secret: the swarm key file content (or its 64 hex digits). Required: a mesh without one is refused. */
  secret: Uint8Array | string | undefined | null
  /** @default ['/ip4/0.0.0.0/tcp/7946'] */
  listen?: string[]
  /** Discover peers on the LAN by mDNS. @default false here (the config's default is true) */
  mdns?: boolean
  /** Multiaddrs dialled at start and redialled with backoff whenever disconnected. @default [] */
  peers?: string[]
  /** Peer ids allowed in (and dialled); empty: every node holding the secret. @default [] */
  allow?: string[]
  /** Heartbeat; a peer unheard for 3 of these is stale. @default 1000 */
  gossipIntervalMs?: number
  /** A peer silent this long (gossip, or mid-request) is given up on. @default 10000 */
  peerTimeoutMs?: number
  /** @default 50 */
  gossipDebounceMs?: number
  /** mDNS service name; tests set their own to stay apart. @default '_herd._udp.local' */
  mdnsServiceTag?: string
  /** @default 10000 */
  mdnsIntervalMs?: number
  /** Idle forward streams kept per peer; 0 disables reuse. @default 8 */
  maxIdleStreamsPerPeer?: number
  /** Largest forwarded request body served here; the daemon passes `http.body_limit_bytes`. @default 64 MiB */
  maxBodyBytes?: number
  /** Forward streams one peer may hold open here (and this node opens to one peer) at once. @default 64 */
  maxStreamsPerPeer?: number
  /** Forwarded request bodies buffered for one peer at once. @default max(32 MiB, maxBodyBytes) */
  maxBufferedBytesPerPeer?: number
  /** Peers learned from gossip or mDNS kept for dialling. @default 256 */
  maxLearnedTargets?: number
  /** Dials started per second. @default 10 */
  maxDialsPerSecond?: number
}

export interface MeshEvents {
  'peer:joined': [PeerView]
  /** A newer state from a peer was applied (also right after 'peer:joined'). */
  'peer:state': [PeerView]
  /** Its connection closed; it is gone from `peers()`. Carries its last view. */
  'peer:left': [PeerView]
}

type Status = 'stopped' | 'starting' | 'started' | 'stopping'
/** Caps whose defaults live with the part that applies them. */
type OptionalCaps = 'maxBodyBytes' | 'maxStreamsPerPeer' | 'maxBufferedBytesPerPeer' | 'maxLearnedTargets' | 'maxDialsPerSecond'

interface Running {
  node: MeshLibp2p
  selfId: string
  table: PeerTable
  dialer: Dialer
  gossip: Gossip
  pool: StreamPool
  client: ForwardClient
  server: ForwardServer
  refusals: Refusals
  /** Listen addresses peers announced through identify (or that we dialled), with /p2p/. */
  addrBook: Map<string, string[]>
  controller: AbortController
}

export class Mesh extends EventEmitter<MeshEvents> {
  private readonly components: MeshComponents
  private readonly init: Required<Omit<MeshInit, 'secret' | 'mdnsServiceTag' | OptionalCaps>> & Pick<MeshInit, 'secret' | 'mdnsServiceTag' | OptionalCaps>
  private readonly log: Logger
  private status: Status = 'stopped'
  private run: Running | undefined
  /** Moves on every connect, disconnect and identify: what a view's `connected` and `addrs` read. */
  private links = 0
  private peersMemo: { run: Running; at: number; table: number; links: number; views: readonly PeerView[] } | undefined
  private seq = 0
  private lastPeerId: string | undefined
  private starting: Promise<void> | undefined

  constructor(components: MeshComponents, init: MeshInit) {
    super()
    this.components = components
    this.log = components.logger.child({ component: 'mesh' })
    this.init = {
      home: init.home,
      secret: init.secret,
      listen: init.listen ?? C.DEFAULT_LISTEN,
      mdns: init.mdns ?? false,
      peers: init.peers ?? [],
      allow: init.allow ?? [],
      gossipIntervalMs: init.gossipIntervalMs ?? C.DEFAULT_GOSSIP_INTERVAL_MS,
      peerTimeoutMs: init.peerTimeoutMs ?? C.DEFAULT_PEER_TIMEOUT_MS,
      gossipDebounceMs: init.gossipDebounceMs ?? C.DEFAULT_GOSSIP_DEBOUNCE_MS,
      mdnsServiceTag: init.mdnsServiceTag,
      mdnsIntervalMs: init.mdnsIntervalMs ?? C.DEFAULT_MDNS_INTERVAL_MS,
      maxIdleStreamsPerPeer: init.maxIdleStreamsPerPeer ?? C.DEFAULT_MAX_IDLE_STREAMS_PER_PEER,
      maxBodyBytes: init.maxBodyBytes,
      maxStreamsPerPeer: init.maxStreamsPerPeer,
      maxBufferedBytesPerPeer: init.maxBufferedBytesPerPeer,
      maxLearnedTargets: init.maxLearnedTargets,
      maxDialsPerSecond: init.maxDialsPerSecond,
    }
  }

  isStarted(): boolean {
    return this.status === 'started'
  }

  /** This node's libp2p peer id (kept after `stop()`). Throws before the first `start()`. */
  get peerId(): string {
    if (this.lastPeerId === undefined) throw new HerdError('internal', 'the mesh has not been started')
    return this.lastPeerId
  }

  /** Listen multiaddrs, each ending in `/p2p/<id>`. */
  addresses(): string[] {
    return this.run?.node.getMultiaddrs().map(String) ?? []
  }

  /**
   * Every peer whose state has arrived and whose connection is open. The same list (shared:
   * callers only read it) until the table or a connection changes or the clock moves on a
   * millisecond, so ages and freshness are what a fresh list would say.
   */
  peers(): readonly PeerView[] {
    const run = this.run
    if (run === undefined) return []
    // The catalog and the router ask for this several times per request: at hundreds of
    // requests a second most asks land in the same millisecond as the one before.
    const at = Date.now()
    const memo = this.peersMemo
    if (memo !== undefined && memo.run === run && memo.at === at && memo.table === run.table.version && memo.links === this.links) return memo.views
    // One pass over the open connections (whose PeerIds cache their string form) beats
    // decoding and re-encoding a peer id per peer.
    const open = this.openPeers(run.node)
    const views = run.table.list().map((r) => this.view(run, r, open))
    this.peersMemo = { run, at, table: run.table.version, links: this.links, views }
    return views
  }

  /** Peer ids with an open connection, whether or not their state has arrived yet. */
  connectedPeers(): string[] {
    return this.run?.node.getPeers().map(String) ?? []
  }

  /** This node's state as peers see it (same seq as the last push). */
  selfState(): NodeState {
    const run = this.running()
    return { ...this.components.localState(), id: run.selfId, seq: this.seq, peers: this.knownPeers(run) }
  }

  /** The local state changed: gossip it soon (debounced). */
  notifyChanged(): void {
    this.run?.gossip.notifyChanged()
  }

  /** Forwards a request; resolves when the response head arrives. Rejects with HerdError naming the peer. Options: see ForwardClient.forward. */
  async forward(
    peerId: string,
    req: ForwardRequest,
    options: { signal: AbortSignal; onWaiting?: (state: WaitState) => void; endEventStream?: (err: Error) => string },
  ): Promise<UpstreamResponse> {
    const run = this.run
    if (run === undefined || this.status !== 'started') throw new HerdError('peer_unavailable', `peer ${peerId}: the mesh is not running`)
    if (peerId === run.selfId) throw new HerdError('internal', 'refusing to forward a request to this node itself')
    return run.client.forward(peerId, req, options)
  }

  /** Forward stream pool counters (tests and /metrics). */
  streamStats(peerId?: string): StreamPoolStats {
    return this.run?.pool.stats(peerId) ?? { opened: 0, reused: 0, idle: 0, active: 0 }
  }

  /** Requests peers forwarded here that are being read or served now. */
  forwardsInFlight(): number {
    return this.run?.server.inFlight() ?? 0
  }

  /**
   * Waits until no request a peer forwarded here is in flight (the daemon's drain counts
   * them beside its own); true when that happened, false when `signal` aborted first.
   */
  async drainForwards(options: { signal: AbortSignal }): Promise<boolean> {
    return (await this.run?.server.drain(options)) ?? true
  }

  /** How often each kind of peer misbehaviour was refused since start (tests, /metrics). */
  refusals(): Partial<Record<RefusalKind, number>> {
    return this.run?.refusals.snapshot() ?? {}
  }

  /** Idempotent; a call while starting waits for that start. On failure, whatever started is stopped again. */
  async start(): Promise<void> {
    if (this.status === 'starting' && this.starting !== undefined) return this.starting
    if (this.status !== 'stopped') return
    this.status = 'starting'
    this.starting = this.doStart()
    try {
      await this.starting
    } finally {
      this.starting = undefined
    }
  }

  private async doStart(): Promise<void> {
    let node: MeshLibp2p | undefined
    try {
      if (this.init.secret == null || this.init.secret.length === 0) throw new HerdError('config_invalid', MESH_SECRET_MISSING)
      const psk = parseSwarmKey(this.init.secret)
      const privateKey = await loadOrCreatePeerKey(this.init.home, { logger: this.log })
      node = await createLibp2pNode({
        privateKey,
        listen: this.init.listen,
        psk,
        allow: new Set(this.init.allow),
        mdns: this.init.mdns ? { serviceTag: this.init.mdnsServiceTag ?? C.DEFAULT_MDNS_SERVICE_TAG, intervalMs: this.init.mdnsIntervalMs } : false,
      })
      this.run = this.assemble(node)
      const run = this.run
      this.lastPeerId = run.selfId
      for (const addr of this.init.peers) run.dialer.addConfigured(addr)
      await node.handle(C.FORWARD_PROTOCOL, run.server.handle, { maxInboundStreams: C.MAX_FORWARD_STREAMS, maxOutboundStreams: C.MAX_FORWARD_STREAMS })
      await run.gossip.start()
      await this.startServices(run)
      node.addEventListener('peer:connect', this.onConnect)
      node.addEventListener('peer:disconnect', this.onDisconnect)
      node.addEventListener('peer:identify', this.onIdentify)
      node.addEventListener('peer:discovery', this.onDiscovery)
      await node.start()
      run.server.start()
      run.dialer.start()
      const silence = setInterval(() => this.hangUpSilent(run), this.init.gossipIntervalMs)
      run.controller.signal.addEventListener('abort', () => clearInterval(silence), { once: true })
      this.status = 'started'
      this.log.info({ peerId: run.selfId, addrs: this.addresses(), mdns: this.init.mdns, peers: this.init.peers.length }, 'mesh started')
    } catch (err: unknown) {
      // Stop whatever got started: the assembled parts, or a node built before assembly failed.
      if (this.run !== undefined) await this.teardown().catch(() => {})
      else await Promise.resolve(node?.stop()).catch(() => {})
      this.status = 'stopped'
      throw err
    }
  }

  /** Idempotent: resets forward streams (aborting requests in flight), stops gossip and dialing, then libp2p. */
  async stop(): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    if (this.status === 'stopped' || this.status === 'stopping') return
    this.status = 'stopping'
    await this.teardown()
    this.status = 'stopped'
  }

  private assemble(node: MeshLibp2p): Running {
    const selfId = node.peerId.toString()
    const allow = new Set(this.init.allow)
    const refusals = new Refusals(this.log)
    const table = new PeerTable({ freshMs: C.FRESH_HEARTBEATS * this.init.gossipIntervalMs })
    const dialer = new Dialer(
      {
        logger: this.log,
        refusals,
        dial: async (addrs, { signal }) => (await node.dial(addrs, { signal })).remotePeer.toString(),
        isConnected: (id) => this.isConnected(node, id),
      },
      {
        selfId,
        allowed: (id) => allow.size === 0 || allow.has(id),
        ...(this.init.maxLearnedTargets === undefined ? {} : { maxLearnedTargets: this.init.maxLearnedTargets }),
        ...(this.init.maxDialsPerSecond === undefined ? {} : { maxDialsPerSecond: this.init.maxDialsPerSecond }),
      },
    )
    const gossip = new Gossip(
      {
        logger: this.log,
        libp2p: node,
        refusals,
        snapshot: () => this.snapshot(),
        onState: (from, state) => this.onState(from, state),
      },
      {
        intervalMs: this.init.gossipIntervalMs,
        debounceMs: this.init.gossipDebounceMs,
        readTimeoutMs: Math.max(this.init.peerTimeoutMs, 3 * this.init.gossipIntervalMs),
      },
    )
    const pool = new StreamPool(
      {
        open: async (peerId, { signal }) => {
          const conn = node.getConnections(peerIdFromString(peerId)).find((c) => c.status === 'open')
          if (conn === undefined) throw new Error('not connected')
          return conn.newStream(C.FORWARD_PROTOCOL, { signal, maxOutboundStreams: C.MAX_FORWARD_STREAMS })
        },
      },
      {
        maxIdlePerPeer: this.init.maxIdleStreamsPerPeer,
        ...(this.init.maxStreamsPerPeer === undefined ? {} : { maxActivePerPeer: this.init.maxStreamsPerPeer }),
      },
    )
    const client = new ForwardClient({ logger: this.log, pool }, { peerTimeoutMs: this.init.peerTimeoutMs })
    const server = new ForwardServer(
      { logger: this.log, onForward: this.components.onForward, refusals },
      {
        peerTimeoutMs: this.init.peerTimeoutMs,
        ...(this.init.maxBodyBytes === undefined ? {} : { maxBodyBytes: this.init.maxBodyBytes }),
        ...(this.init.maxStreamsPerPeer === undefined ? {} : { maxStreamsPerPeer: this.init.maxStreamsPerPeer }),
        ...(this.init.maxBufferedBytesPerPeer === undefined ? {} : { maxBufferedBytesPerPeer: this.init.maxBufferedBytesPerPeer }),
      },
    )
    return { node, selfId, table, dialer, gossip, pool, client, server, refusals, addrBook: new Map(), controller: new AbortController() }
  }

  private async startServices(run: Running): Promise<void> {
    for (const s of this.components.services ?? []) {
      await run.node.handle(s.protocol, (stream, conn) => s.handle(stream, conn.remotePeer.toString()), {
        maxInboundStreams: s.maxInboundStreams ?? 4,
        maxOutboundStreams: 4,
      })
      s.start({
        selfId: run.selfId,
        dial: (peerId, { signal }) => run.node.dialProtocol(peerIdFromString(peerId), s.protocol, { signal }),
        connectedPeers: () => run.node.getPeers().map(String),
        refuse: (peer, kind, message, details) => run.refusals.refuse(peer, kind, message, details),
      })
    }
  }

  private async teardown(): Promise<void> {
    const run = this.run
    if (run === undefined) return
    this.run = undefined
    for (const s of this.components.services ?? []) s.stop()
    run.controller.abort()
    run.dialer.stop()
    run.server.stop()
    run.pool.closeAll(new Error('mesh stopping'))
    await run.gossip.stop().catch((err: unknown) => this.log.debug({ err: String(err) }, 'gossip stop failed'))
    run.node.removeEventListener('peer:connect', this.onConnect)
    run.node.removeEventListener('peer:disconnect', this.onDisconnect)
    run.node.removeEventListener('peer:identify', this.onIdentify)
    run.node.removeEventListener('peer:discovery', this.onDiscovery)
    await run.node.stop()
    run.table.clear()
    this.log.info('mesh stopped')
  }

  private running(): Running {
    if (this.run === undefined) throw new HerdError('internal', 'the mesh is not started')
    return this.run
  }

  private snapshot(): NodeState {
    const run = this.running()
    this.seq += 1
    return { ...this.components.localState(), id: run.selfId, seq: this.seq, peers: this.knownPeers(run) }
  }

  /** Connected peers and where to reach them: what lets others learn the whole mesh from one peer. */
  private knownPeers(run: Running): PeerAddress[] {
    return run.node
      .getPeers()
      .map((p) => {
        const id = p.toString()
        return { id, addrs: run.addrBook.get(id) ?? [] }
      })
      .filter((p) => p.addrs.length > 0)
  }

  private openPeers(node: MeshLibp2p): Set<string> {
    const open = new Set<string>()
    for (const c of node.getConnections()) if (c.status === 'open') open.add(c.remotePeer.toString())
    return open
  }

  /** `open`: the peers with an open connection, when the caller has them at hand. */
  private view(run: Running, r: PeerRecord, open?: ReadonlySet<string>): PeerView {
    return {
      id: r.id,
      name: r.state.name,
      state: r.state,
      receivedAt: r.receivedAt,
      ageMs: r.ageMs,
      fresh: r.fresh,
      connected: open === undefined ? this.isConnected(run.node, r.id) : open.has(r.id),
      addrs: run.addrBook.get(r.id) ?? [],
    }
  }

  private isConnected(node: MeshLibp2p, peerId: string): boolean {
    try {
      return node.getConnections(peerIdFromString(peerId)).some((c) => c.status === 'open')
    } catch {
      return false
    }
  }

  private onState(from: string, state: NodeState): void {
    const run = this.run
    // A state racing the connection's close must not resurrect the peer.
    if (run === undefined || !this.isConnected(run.node, from)) return
    const result = run.table.apply(state)
    if (result === 'joined' || result === 'updated') {
      const record = run.table.get(from)
      if (record !== undefined) {
        const view = this.view(run, record)
        if (result === 'joined') {
          this.log.info({ peer: from, name: state.name }, 'peer joined')
          this.emit('peer:joined', view)
        }
        this.emit('peer:state', view)
      }
    }
    for (const p of state.peers) {
      if (p.id === run.selfId || !isPeerId(p.id)) continue
      run.dialer.learn(p.id, parseMultiaddrs(p.addrs), 'gossip', from)
    }
  }

  private hangUpSilent(run: Running): void {
    for (const id of run.table.silentFor(this.init.peerTimeoutMs)) {
      this.log.warn({ peer: id, timeoutMs: this.init.peerTimeoutMs }, 'peer silent too long; closing its connection')
      run.node.hangUp(peerIdFromString(id)).catch((err: unknown) => this.log.debug({ peer: id, err: String(err) }, 'hang up failed'))
    }
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const run = this.run
    if (run === undefined) return
    this.links++
    const id = evt.detail.toString()
    // Until identify reports listen addresses, an outbound connection's address is known good.
    const conn = run.node.getConnections(evt.detail).find((c) => c.direction === 'outbound')
    if (conn !== undefined && !run.addrBook.has(id)) run.addrBook.set(id, [withPeerId(conn.remoteAddr, id).toString()])
    run.dialer.onConnected(id)
    run.gossip.onPeerConnected(id)
    for (const s of this.components.services ?? []) s.peerConnected(id)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const run = this.run
    if (run === undefined) return
    this.links++
    const id = evt.detail.toString()
    const record = run.table.get(id)
    run.table.remove(id)
    run.pool.dropPeer(id, new Error(`peer ${id} disconnected`))
    run.gossip.onPeerDisconnected(id)
    run.dialer.onDisconnected(id)
    for (const s of this.components.services ?? []) s.peerDisconnected(id)
    if (record !== undefined) {
      const view = { ...this.view(run, record), connected: false }
      run.addrBook.delete(id)
      this.log.info({ peer: id, name: record.state.name }, 'peer left')
      this.emit('peer:left', view)
    } else {
      run.addrBook.delete(id)
    }
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const run = this.run
    if (run === undefined) return
    this.links++
    const id = evt.detail.peerId.toString()
    // What we gossip on about a peer is capped like what we accept from one.
    const addrs = evt.detail.listenAddrs.slice(0, C.MAX_ADDRS_PER_PEER).map((a) => withPeerId(a, id).toString())
    if (addrs.length === 0) return
    const known = run.addrBook.get(id)
    run.addrBook.set(id, addrs)
    // A new peer's addresses go out with the next push rather than the next heartbeat, so
    // the rest of the mesh learns of it (and dials it) within one debounce.
    if (known === undefined || known.join() !== addrs.join()) this.notifyChanged()
  }

  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const run = this.run
    if (run === undefined) return
    const id = evt.detail.id.toString()
    if (id !== run.selfId) run.dialer.learn(id, evt.detail.multiaddrs, 'mdns')
  }
}

function isPeerId(id: string): boolean {
  try {
    peerIdFromString(id)
    return true
  } catch {
    return false
  }
}
