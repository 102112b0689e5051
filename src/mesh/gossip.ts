/**
 * `/herd/state/1.0.0`: every node pushes its NodeState to each connected peer on change
 * (debounced) and on a heartbeat, as length-prefixed JSON on one long-lived outbound
 * stream per peer (opened on connect, reopened by the next push after a failure). The
 * receiving side only reads: each node owns the stream it writes.
 *
 * A state that breaks the schema, or claims another node's id, is dropped and the stream
 * read on: the next heartbeat may be fine, and the connection's other traffic never
 * depends on it. Only a frame that cannot be skipped (over MAX_STATE_BYTES, a broken
 * length prefix) ends this gossip stream, and only it: the peer reopens one on its next push.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import { DEFAULT_GOSSIP_SUSTAINED_INTERVAL_MS, STATE_PROTOCOL } from './constants.ts'
import type { MeshLibp2p } from './node.ts'
import type { Refusals } from './refusals.ts'
import { parseNodeState } from './state-schema.ts'
import type { NodeState } from './types.ts'

/** Far above any real state (a few KB per model; a few hundred KB at the schema's caps), low enough to refuse garbage. */
export const MAX_STATE_BYTES = 1024 * 1024
/** States parsed per second from one stream; more are dropped unread (honest nodes push at most one per debounce, 50 ms). */
export const MAX_STATES_PER_SECOND = 40

export interface GossipComponents {
  logger: Logger
  libp2p: Pick<MeshLibp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getPeers'>
  /** The state to push now; each call is a new version (the mesh bumps seq). */
  snapshot(): NodeState
  /** A valid state arrived on a connection from `from`. */
  onState(from: string, state: NodeState): void
  refusals: Refusals
}

export interface GossipInit {
  intervalMs: number
  debounceMs: number
  /**
   * A change push at most this long after the previous one (pushes that keep coming, as load
   * under traffic): the debounce grows to reach it. @default min(250 ms, intervalMs / 4)
   */
  sustainedIntervalMs?: number
  /** A state not read whole within this long (none begun, or one trickling in) ends the inbound stream. @default 10 intervals */
  readTimeoutMs?: number
}

interface Pusher {
  stream: Stream | undefined
  lp: LengthPrefixedStream<Stream> | undefined
  running: boolean
  pending: boolean
}

export class Gossip {
  private readonly components: GossipComponents
  private readonly init: GossipInit
  private readonly pushers = new Map<string, Pusher>()
  private latest: Uint8Array | undefined
  private controller: AbortController | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined
  private readonly sustainedIntervalMs: number
  /** When the last change push (not a heartbeat) went out. */
  private lastChangePushAt = Number.NEGATIVE_INFINITY

  constructor(components: GossipComponents, init: GossipInit) {
    this.components = components
    this.init = init
    this.sustainedIntervalMs = init.sustainedIntervalMs ?? Math.min(DEFAULT_GOSSIP_SUSTAINED_INTERVAL_MS, init.intervalMs / 4)
  }

  async start(): Promise<void> {
    if (this.controller !== undefined) return
    await this.components.libp2p.handle(STATE_PROTOCOL, this.handleInbound, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    this.controller = new AbortController()
    this.heartbeat = setInterval(() => {
      // The heartbeat carries every change so far: a push still pending for them would repeat it.
      clearTimeout(this.debounce)
      this.debounce = undefined
      this.broadcast()
    }, this.init.intervalMs)
  }

  async stop(): Promise<void> {
    if (this.controller === undefined) return
    this.controller.abort(new Error('mesh stopping'))
    this.controller = undefined
    clearInterval(this.heartbeat)
    clearTimeout(this.debounce)
    this.debounce = undefined
    this.lastChangePushAt = Number.NEGATIVE_INFINITY
    for (const id of [...this.pushers.keys()]) this.onPeerDisconnected(id)
    this.latest = undefined
    await this.components.libp2p.unhandle(STATE_PROTOCOL)
  }

  /**
   * Something in the local state changed: push soon, once for a burst of changes. Under
   * sustained traffic every request changes the load, so pushes would go out every debounce
   * (20/s to each peer, each one a snapshot, a JSON state of a few KB and a parse there):
   * while they keep coming, one goes out at most every sustainedIntervalMs.
   */
  notifyChanged(): void {
    if (this.controller === undefined || this.debounce !== undefined) return
    const delay = Math.max(this.init.debounceMs, this.lastChangePushAt + this.sustainedIntervalMs - Date.now())
    this.debounce = setTimeout(() => {
      this.debounce = undefined
      this.lastChangePushAt = Date.now()
      this.broadcast()
    }, delay)
  }

  /** Take a new snapshot and push it to every connected peer. */
  broadcast(): void {
    if (this.controller === undefined) return
    this.latest = Buffer.from(JSON.stringify(this.components.snapshot()), 'utf8')
    for (const peer of this.components.libp2p.getPeers()) this.push(peer.toString())
  }

  onPeerConnected(peerId: string): void {
    if (this.controller === undefined) return
    if (this.latest === undefined) this.broadcast()
    else this.push(peerId)
  }

  onPeerDisconnected(peerId: string): void {
    const pusher = this.pushers.get(peerId)
    this.pushers.delete(peerId)
    pusher?.stream?.abort(new Error('peer disconnected'))
  }

  private push(peerId: string): void {
    let pusher = this.pushers.get(peerId)
    if (pusher === undefined) {
      pusher = { stream: undefined, lp: undefined, running: false, pending: false }
      this.pushers.set(peerId, pusher)
    }
    pusher.pending = true
    // One write at a time per peer; a push that lands meanwhile is coalesced into the next.
    if (!pusher.running) void this.run(peerId, pusher)
  }

  private async run(peerId: string, pusher: Pusher): Promise<void> {
    const signal = this.controller?.signal
    if (signal === undefined) return
    pusher.running = true
    try {
      while (pusher.pending && !signal.aborted && this.pushers.get(peerId) === pusher) {
        pusher.pending = false
        const state = this.latest
        if (state === undefined) break
        if (pusher.lp === undefined) {
          const stream = await this.components.libp2p.dialProtocol(peerIdFromString(peerId), STATE_PROTOCOL, { signal })
          pusher.stream = stream
          pusher.lp = lpStream(stream, { maxDataLength: MAX_STATE_BYTES })
        }
        await pusher.lp.write(state, { signal })
      }
    } catch (err: unknown) {
      // Drop the stream; the next push (the heartbeat at the latest) opens a new one.
      pusher.stream?.abort(err instanceof Error ? err : new Error(String(err)))
      pusher.stream = undefined
      pusher.lp = undefined
      if (!signal.aborted) this.components.logger.debug({ peer: peerId, err: String(err) }, 'gossip push failed')
    } finally {
      pusher.running = false
    }
  }

  private readonly handleInbound = async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    const signal = this.controller?.signal
    const { refusals } = this.components
    const lp = lpStream(stream, { maxDataLength: MAX_STATE_BYTES, maxBufferSize: 2 * MAX_STATE_BYTES })
    // A peer pushes at least every heartbeat; a read that takes longer is a peer holding the stream with a partial frame.
    const readTimeoutMs = this.init.readTimeoutMs ?? 10 * this.init.intervalMs
    const ac = new AbortController()
    const onStop = (): void => ac.abort(signal?.reason)
    signal?.addEventListener('abort', onStop, { once: true })
    let timer: NodeJS.Timeout | undefined
    let windowStart = 0
    let inWindow = 0
    try {
      while (signal?.aborted !== true) {
        timer = setTimeout(() => ac.abort(new Error(`no whole state within ${readTimeoutMs} ms`)), readTimeoutMs)
        const buf = await lp.read({ signal: ac.signal })
        clearTimeout(timer)
        const now = Date.now()
        if (now - windowStart >= 1000) {
          windowStart = now
          inWindow = 0
        }
        if (++inWindow > MAX_STATES_PER_SECOND) {
          refusals.refuse(from, 'state_rate', 'dropped a gossiped state: the peer sends them too fast', { limit: MAX_STATES_PER_SECOND })
          continue
        }
        const state = parseNodeState(Buffer.from(buf.subarray()).toString('utf8'))
        if (state instanceof Error) {
          refusals.refuse(from, 'bad_state', 'dropped a gossiped state that breaks the schema', { err: state.message, bytes: buf.byteLength })
          continue
        }
        // A peer speaks only for itself: a relayed or forged state is dropped.
        if (state.id !== from) {
          refusals.refuse(from, 'forged_state', 'dropped a gossiped state claiming another node', { claimed: state.id.slice(0, 128) })
          continue
        }
        this.components.onState(from, state)
      }
    } catch (err: unknown) {
      if (stream.status === 'open') stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal?.aborted === true || isEndOfStream(err)) return
      if (isBadLength(err))
        refusals.refuse(from, 'state_too_large', 'closed a gossip stream: a state frame over the limit', { limit: MAX_STATE_BYTES, err: String(err) })
      else if (ac.signal.aborted) refusals.refuse(from, 'frame_timeout', 'closed a gossip stream: no whole state in time', { timeoutMs: readTimeoutMs })
      else this.components.logger.debug({ peer: from, err: String(err) }, 'gossip stream from peer failed')
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onStop)
    }
  }
}

function isBadLength(err: unknown): boolean {
  return (
    err instanceof Error && (err.name === 'InvalidDataLengthError' || err.name === 'InvalidDataLengthLengthError' || err.name === 'InvalidMessageLengthError')
  )
}

function isEndOfStream(err: unknown): boolean {
  return err instanceof Error && (err.name === 'UnexpectedEOFError' || err.name === 'StreamResetError' || err.name === 'StreamClosedError')
}
