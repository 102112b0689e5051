/**
 * Extra protocols other components run over the mesh's connections (the tenants'
 * `/herd/tenants/1.0.0`), without reaching into libp2p: the mesh registers the handler,
 * tells the service who connects and leaves, and lends it a way to open streams.
 */
import type { Stream } from '@libp2p/interface'
import type { RefusalKind } from './refusals.ts'

export interface MeshServiceContext {
  /** This node's peer id. */
  selfId: string
  /** Opens a stream of the service's protocol to a connected peer. */
  dial(peerId: string, options: { signal: AbortSignal }): Promise<Stream>
  /** Peers with an open connection. */
  connectedPeers(): string[]
  /** Logs a peer's misbehaviour once per peer and kind (then at debug), and counts it. */
  refuse(peer: string, kind: RefusalKind, message: string, details?: Record<string, unknown>): void
}

export interface MeshService {
  /** libp2p protocol id, e.g. `/herd/tenants/1.0.0`. */
  protocol: string
  /** Inbound streams one peer may hold open at once. @default 4 */
  maxInboundStreams?: number
  /** Called once the mesh is up, before any peer connects. */
  start(context: MeshServiceContext): void
  /** An inbound stream from `peerId`. */
  handle(stream: Stream, peerId: string): Promise<void>
  peerConnected(peerId: string): void
  peerDisconnected(peerId: string): void
  /** Called when the mesh stops (idempotent). */
  stop(): void
}
