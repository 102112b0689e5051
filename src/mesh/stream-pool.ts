/**
 * Forward streams kept open and reused per peer, like HTTP keep-alive: opening a fresh
 * libp2p stream costs a multistream-select round trip (~1.5 ms here) on every request.
 * A stream carries one request at a time; idle ones wait here, at most `maxIdlePerPeer`.
 */
import type { Stream } from '@libp2p/interface'
import { MAX_INBOUND_STREAMS_PER_PEER } from './constants.ts'
import { FrameReader } from './frame-reader.ts'

export interface PooledStream {
  readonly peerId: string
  readonly stream: Stream
  readonly reader: FrameReader
  /** Requests this stream has carried, the current one included. */
  uses: number
}

export interface StreamPoolComponents {
  /** Opens a new forward stream on an existing connection to the peer. */
  open(peerId: string, options: { signal: AbortSignal }): Promise<Stream>
}

export interface StreamPoolInit {
  /** @default 8; 0 disables reuse (every request opens a fresh stream). */
  maxIdlePerPeer: number
  /**
   * Streams in use per peer at once; past it, `acquire` waits for one to come back. The
   * peer refuses more than this many (MAX_INBOUND_STREAMS_PER_PEER), so a burst queues
   * here instead of failing there. @default 64
   */
  maxActivePerPeer?: number
}

export interface StreamPoolStats {
  opened: number
  reused: number
  idle: number
  active: number
}

export class StreamPool {
  private readonly components: StreamPoolComponents
  private readonly maxIdle: number
  private readonly idle = new Map<string, PooledStream[]>()
  private readonly active = new Set<PooledStream>()
  private readonly maxActive: number
  private readonly activePerPeer = new Map<string, number>()
  private readonly waiting = new Map<string, Array<() => void>>()
  private opened = 0
  private reused = 0

  constructor(components: StreamPoolComponents, init: StreamPoolInit) {
    this.components = components
    this.maxIdle = init.maxIdlePerPeer
    this.maxActive = init.maxActivePerPeer ?? MAX_INBOUND_STREAMS_PER_PEER
  }

  /** An idle stream to the peer, or a new one. The caller must `release` or `discard` it. */
  async acquire(peerId: string, options: { signal: AbortSignal }): Promise<{ entry: PooledStream; reused: boolean }> {
    while ((this.activePerPeer.get(peerId) ?? 0) >= this.maxActive) await this.waitTurn(peerId, options.signal)
    // The turn is taken now, before any await, so concurrent callers see it.
    this.activePerPeer.set(peerId, (this.activePerPeer.get(peerId) ?? 0) + 1)
    try {
      return await this.take(peerId, options)
    } catch (err: unknown) {
      this.giveTurnBack(peerId)
      throw err
    }
  }

  private async take(peerId: string, options: { signal: AbortSignal }): Promise<{ entry: PooledStream; reused: boolean }> {
    const list = this.idle.get(peerId) ?? []
    // Most recently used first: it is the likeliest to be alive, and the others can age out.
    let entry = list.pop()
    while (entry !== undefined && !entry.reader.reusable) {
      this.destroy(entry, new Error('stale pooled stream'))
      entry = list.pop()
    }
    if (entry !== undefined) {
      entry.uses += 1
      this.reused += 1
      this.activate(entry)
      return { entry, reused: true }
    }
    const stream = await this.components.open(peerId, options)
    this.opened += 1
    entry = { peerId, stream, reader: new FrameReader(stream), uses: 1 }
    this.activate(entry)
    return { entry, reused: false }
  }

  /** The request finished cleanly: keep the stream for the next one, if there is room. */
  release(entry: PooledStream): void {
    if (!this.deactivate(entry)) return
    const list = this.idle.get(entry.peerId) ?? []
    if (!entry.reader.reusable || list.length >= this.maxIdle) {
      this.close(entry)
      return
    }
    list.push(entry)
    this.idle.set(entry.peerId, list)
  }

  /** The request broke off or was aborted: reset the stream so the other side stops too. */
  discard(entry: PooledStream, reason: Error): void {
    this.deactivate(entry)
    this.destroy(entry, reason)
  }

  /** Drop everything held for a peer (its connection closed). */
  dropPeer(peerId: string, reason: Error): void {
    for (const entry of this.idle.get(peerId) ?? []) this.destroy(entry, reason)
    this.idle.delete(peerId)
    for (const entry of [...this.active]) if (entry.peerId === peerId) this.discard(entry, reason)
  }

  closeAll(reason: Error): void {
    for (const peerId of new Set([...this.idle.keys(), ...[...this.active].map((e) => e.peerId)])) this.dropPeer(peerId, reason)
  }

  stats(peerId?: string): StreamPoolStats {
    const idle = peerId === undefined ? [...this.idle.values()].flat().length : (this.idle.get(peerId)?.length ?? 0)
    return { opened: this.opened, reused: this.reused, idle, active: this.active.size }
  }

  private activate(entry: PooledStream): void {
    this.active.add(entry)
  }

  private deactivate(entry: PooledStream): boolean {
    if (!this.active.delete(entry)) return false
    this.giveTurnBack(entry.peerId)
    return true
  }

  private giveTurnBack(peerId: string): void {
    const n = (this.activePerPeer.get(peerId) ?? 1) - 1
    if (n > 0) this.activePerPeer.set(peerId, n)
    else this.activePerPeer.delete(peerId)
    this.waiting.get(peerId)?.shift()?.()
  }

  private async waitTurn(peerId: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    const list = this.waiting.get(peerId) ?? []
    this.waiting.set(peerId, list)
    const onAbort = (): void => reject(signal.reason)
    list.push(resolve)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await promise
    } finally {
      signal.removeEventListener('abort', onAbort)
      const i = list.indexOf(resolve)
      if (i >= 0) list.splice(i, 1)
      if (list.length === 0 && this.waiting.get(peerId) === list) this.waiting.delete(peerId)
    }
  }

  private close(entry: PooledStream): void {
    entry.reader.detach()
    // A graceful close lets the server's read loop end; nothing to wait for here.
    entry.stream.close().catch((err: unknown) => entry.stream.abort(err instanceof Error ? err : new Error(String(err))))
  }

  private destroy(entry: PooledStream, reason: Error): void {
    entry.reader.detach()
    entry.stream.abort(reason)
  }
}
