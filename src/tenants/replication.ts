/**
 * Keys and counters across the mesh over `/herd/tenants/1.0.0` (messages: wire.ts). Each
 * node writes to each connected peer on a stream of its own; a fresh stream starts with
 * this node's digest and all its counters, so a node that was away catches up as soon as
 * it reconnects. Changes go out at once (keys) or within `counterPushMs` (counters); every
 * `SUMMARY_EVERY` heartbeats a summary (and all counters) heals whatever a dropped message lost.
 */
import type { Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { MeshService, MeshServiceContext } from '../mesh/index.ts'
import type { CounterEntry, UsageCounters } from './counters.ts'
import type { DigestEntry, Keyring } from './keyring.ts'
import { supersedes } from './merge.ts'
import type { KeyRecord } from './record.ts'
import * as W from './wire.ts'

/** Heartbeats between summaries (and full counter pushes). */
export const SUMMARY_EVERY = 10
/** How soon counts of a key close to a limit go out (coalescing what lands meanwhile). */
export const URGENT_PUSH_MS = 2
/** Bytes queued for one peer before the link is reset (the next stream resynchronises). */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024

export interface ReplicationComponents {
  logger: Logger
  /** The keys (once the store is open). */
  keyring: () => Keyring
  counters: UsageCounters
  now: () => number
}

export interface ReplicationInit {
  /** The rate bucket length; peers must use the same. */
  bucketMs: number
  heartbeatMs: number
  counterPushMs: number
}

interface Link {
  stream: Stream | undefined
  lp: LengthPrefixedStream<Stream> | undefined
  queue: Uint8Array[]
  queued: number
  running: boolean
  /** After a failed dial or write, no new stream before this (the heartbeat retries). */
  retryAt: number
}

export class Replication implements MeshService {
  readonly protocol = W.TENANTS_PROTOCOL
  private readonly c: ReplicationComponents
  private readonly init: ReplicationInit
  private ctx: MeshServiceContext | undefined
  private controller: AbortController | undefined
  private readonly links = new Map<string, Link>()
  private pushTimer: NodeJS.Timeout | undefined
  private pushDue = 0
  private beats = 0

  constructor(components: ReplicationComponents, init: ReplicationInit) {
    this.c = components
    this.init = init
  }

  start(context: MeshServiceContext): void {
    if (this.controller !== undefined) return
    this.ctx = context
    this.controller = new AbortController()
    const heartbeat = setInterval(() => this.heartbeat(), this.init.heartbeatMs)
    this.controller.signal.addEventListener('abort', () => clearInterval(heartbeat), { once: true })
  }

  stop(): void {
    if (this.controller === undefined) return
    this.controller.abort(new Error('mesh stopping'))
    this.controller = undefined
    clearTimeout(this.pushTimer)
    this.pushTimer = undefined
    for (const id of [...this.links.keys()]) this.peerDisconnected(id)
  }

  peerConnected(peerId: string): void {
    if (this.controller === undefined) return
    this.link(peerId)
    this.flush(peerId)
  }

  peerDisconnected(peerId: string): void {
    const link = this.links.get(peerId)
    this.links.delete(peerId)
    link?.stream?.abort(new Error('peer disconnected'))
  }

  /** A key changed here: tell every peer now. */
  keyChanged(record: KeyRecord, except?: string): void {
    for (const peer of this.links.keys()) if (peer !== except) this.send(peer, { t: 'records', r: [record] })
  }

  /**
   * Counts changed here: push the changed keys soon, once per burst; within URGENT_PUSH_MS
   * when `urgent` (a key close to a limit, where a late count lets the others overshoot).
   */
  countersChanged(urgent = false): void {
    if (this.controller === undefined) return
    const delay = urgent ? Math.min(URGENT_PUSH_MS, this.init.counterPushMs) : this.init.counterPushMs
    if (this.pushTimer !== undefined) {
      if (!urgent || this.pushDue <= Date.now() + delay) return
      clearTimeout(this.pushTimer)
    }
    this.pushDue = Date.now() + delay
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined
      const changed = this.c.counters.takeChanged(this.c.now())
      if (changed.length > 0) for (const peer of this.links.keys()) this.sendCounters(peer, changed)
    }, delay)
  }

  private heartbeat(): void {
    this.c.counters.prune(this.c.now())
    for (const peer of this.links.keys()) this.flush(peer)
    if (++this.beats % SUMMARY_EVERY !== 0) return
    const summary = { t: 'summary', n: this.c.keyring().size, h: this.c.keyring().summary() } as const
    const all = this.c.counters.snapshot(this.c.now())
    for (const peer of this.links.keys()) {
      this.send(peer, summary)
      this.sendCounters(peer, all)
    }
  }

  private sendCounters(peer: string, entries: readonly CounterEntry[]): void {
    for (const c of W.chunks(entries, W.MAX_COUNTER_KEYS_PER_MESSAGE)) this.send(peer, { t: 'counters', w: this.init.bucketMs, c })
  }

  private sendDigest(peer: string): void {
    const entries = this.c.keyring().digest()
    const parts = W.chunks(entries, W.MAX_DIGEST_ENTRIES)
    if (parts.length === 0) parts.push([])
    parts.forEach((e, i) => {
      const next = parts[i + 1]?.[0]?.[0]
      this.send(peer, { t: 'digest', from: i === 0 ? '' : (e[0]?.[0] ?? ''), to: next ?? null, e })
    })
  }

  private link(peerId: string): Link {
    let link = this.links.get(peerId)
    if (link === undefined) {
      link = { stream: undefined, lp: undefined, queue: [], queued: 0, running: false, retryAt: 0 }
      this.links.set(peerId, link)
    }
    return link
  }

  private send(peerId: string, message: W.TenantMessage): void {
    const link = this.links.get(peerId)
    if (link === undefined || this.controller === undefined) return
    const bytes = Buffer.from(JSON.stringify(message), 'utf8')
    if (link.queued + bytes.byteLength > MAX_QUEUED_BYTES) {
      // A peer that does not read: drop what waits and the stream; the next one starts with a digest.
      this.c.logger.warn({ peer: peerId, queued: link.queued }, 'tenants replication to a peer is backed up; resetting its stream')
      link.queue = []
      link.queued = 0
      link.stream?.abort(new Error('backed up'))
      link.stream = undefined
      link.lp = undefined
      return
    }
    link.queue.push(bytes)
    link.queued += bytes.byteLength
    this.flush(peerId)
  }

  private flush(peerId: string): void {
    const link = this.links.get(peerId)
    if (link === undefined || link.running) return
    // A peer that cannot take the protocol (an older herd) is not dialled on every change.
    if (link.lp === undefined && Date.now() < link.retryAt) return
    void this.run(peerId, link)
  }

  private async run(peerId: string, link: Link): Promise<void> {
    const signal = this.controller?.signal
    const ctx = this.ctx
    if (signal === undefined || ctx === undefined) return
    link.running = true
    try {
      while (!signal.aborted && this.links.get(peerId) === link && (link.lp === undefined || link.queue.length > 0)) {
        if (link.lp === undefined) {
          const stream = await ctx.dial(peerId, { signal })
          link.stream = stream
          link.lp = lpStream(stream, { maxDataLength: W.MAX_TENANT_MESSAGE_BYTES })
          // Every stream begins with what a peer that missed everything needs.
          const hello: Uint8Array[] = []
          const queueFirst = link.queue
          link.queue = hello
          this.sendDigest(peerId)
          this.sendCounters(peerId, this.c.counters.snapshot(this.c.now()))
          link.queue = [...hello, ...queueFirst]
          continue
        }
        const next = link.queue.shift() as Uint8Array
        link.queued -= next.byteLength
        await link.lp.write(next, { signal })
      }
    } catch (err: unknown) {
      link.stream?.abort(err instanceof Error ? err : new Error(String(err)))
      link.stream = undefined
      link.lp = undefined
      link.retryAt = Date.now() + this.init.heartbeatMs
      if (!signal.aborted) this.c.logger.debug({ peer: peerId, err: String(err) }, 'tenants replication push failed')
    } finally {
      link.running = false
    }
  }

  readonly handle = async (stream: Stream, from: string): Promise<void> => {
    const signal = this.controller?.signal
    const ctx = this.ctx
    if (signal === undefined || ctx === undefined) {
      stream.abort(new Error('not running'))
      return
    }
    const lp = lpStream(stream, { maxDataLength: W.MAX_TENANT_MESSAGE_BYTES, maxBufferSize: 2 * W.MAX_TENANT_MESSAGE_BYTES })
    // A token bucket: a catch-up may burst, a flood may not.
    let tokens = W.MAX_TENANT_MESSAGES_PER_SECOND * 10
    let refilled = Date.now()
    try {
      while (!signal.aborted) {
        const buf = await lp.read({ signal })
        const now = Date.now()
        tokens = Math.min(W.MAX_TENANT_MESSAGES_PER_SECOND * 10, tokens + ((now - refilled) / 1000) * W.MAX_TENANT_MESSAGES_PER_SECOND)
        refilled = now
        if (tokens < 1) {
          ctx.refuse(from, 'tenant_message_rate', 'dropped a tenants message: the peer sends them too fast', { limit: W.MAX_TENANT_MESSAGES_PER_SECOND })
          continue
        }
        tokens -= 1
        const message = W.parseTenantMessage(buf.subarray())
        if (message instanceof Error) {
          ctx.refuse(from, 'bad_tenant_message', 'dropped a tenants message that breaks the schema', { err: message.message, bytes: buf.byteLength })
          continue
        }
        this.receive(from, message, ctx)
      }
    } catch (err: unknown) {
      if (stream.status === 'open') stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted || (err instanceof Error && ['UnexpectedEOFError', 'StreamResetError', 'StreamClosedError'].includes(err.name))) return
      if (err instanceof Error && err.name.startsWith('InvalidDataLength'))
        ctx.refuse(from, 'tenant_message_too_large', 'closed a tenants stream: a message over the limit', { limit: W.MAX_TENANT_MESSAGE_BYTES })
      else this.c.logger.debug({ peer: from, err: String(err) }, 'tenants stream from peer failed')
    }
  }

  private receive(from: string, message: W.TenantMessage, ctx: MeshServiceContext): void {
    switch (message.t) {
      case 'records': {
        for (const r of message.r) {
          const result = this.c.keyring().apply(r)
          // What changed here may not have reached the others yet: pass it on (each version once per node).
          if (result === 'applied') this.keyChanged(r, from)
          else if (result === 'refused')
            ctx.refuse(from, 'bad_tenant_message', 'refused a key record that reuses another key’s secret or exceeds the key cap', { id: r.id })
        }
        return
      }
      case 'digest':
        return this.answerDigest(from, message)
      case 'counters':
        if (message.w !== this.init.bucketMs) {
          ctx.refuse(from, 'bad_tenant_message', 'ignored counters from a peer with another tenants.rate_window_ms', {
            theirs: message.w,
            ours: this.init.bucketMs,
          })
          return
        }
        this.c.counters.applyRemote(from, message.c)
        return
      case 'summary':
        if (message.h !== this.c.keyring().summary()) this.sendDigest(from)
        return
    }
  }

  /** Send the peer every record in the digest's range that it lacks or holds an older version of. */
  private answerDigest(peer: string, message: Extract<W.TenantMessage, { t: 'digest' }>): void {
    const theirs = new Map<string, DigestEntry>(message.e.map((e) => [e[0], e]))
    const newer: KeyRecord[] = []
    for (const r of this.c.keyring().list()) {
      if (r.id < message.from || (message.to !== null && r.id >= message.to)) continue
      const t = theirs.get(r.id)
      if (t === undefined || supersedes(r, { version: t[1], revoked: t[2] === 1, updated_by: t[3] })) newer.push(r)
    }
    for (const r of W.chunks(newer, W.MAX_RECORDS_PER_MESSAGE)) this.send(peer, { t: 'records', r })
  }
}
