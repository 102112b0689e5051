import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { AcquireOptions, Lease, QueueWait } from '../../src/instances/types.ts'
import { acquire, endAtLastByte, SPAN, type SpanName, type TraceSpan } from '../../src/telemetry/index.ts'

/** A TraceSpan that records what is done to it, and its children. */
class Recorder implements TraceSpan {
  readonly name: string
  readonly attributes: Record<string, unknown>
  readonly children: Recorder[] = []
  failed: unknown
  ended = 0

  constructor(name: string, attributes: Record<string, unknown> = {}) {
    this.name = name
    this.attributes = { ...attributes }
  }
  child(name: SpanName, attributes?: Record<string, unknown>): TraceSpan {
    const c = new Recorder(name, attributes)
    this.children.push(c)
    return c
  }
  set(key: string, value: unknown): void {
    this.attributes[key] = value
  }
  fail(err: unknown): void {
    this.failed = err
  }
  end(): void {
    this.ended++
  }
  propagation(): Record<string, string> {
    return {}
  }
  find(name: string): Recorder | undefined {
    return this.children.find((c) => c.name === name)
  }
}

const lease: Lease = { instanceId: 'm-1', baseUrl: 'http://127.0.0.1:1', exited: new AbortController().signal, release: () => {} }
const profile = { id: 'm:default' }
const options = (): AcquireOptions => ({ signal: new AbortController().signal })

/** A supervisor that calls onWaiting (as the real one does, synchronously) with `wait`, then settles as told. */
function supervisor(wait: QueueWait | undefined, outcome: Promise<Lease>) {
  return {
    acquire: (_p: unknown, o: AcquireOptions) => {
      if (wait !== undefined) o.onWaiting?.(() => wait)
      return outcome
    },
  }
}

describe('acquire', () => {
  it('with no parent is the supervisor call itself', async () => {
    const outcome = Promise.resolve(lease)
    const s = supervisor(undefined, outcome)
    expect(acquire(undefined, s, profile, options())).toBe(outcome)
  })

  it('records an instant lease as a queue span that did not wait, and no spawn', async () => {
    const root = new Recorder('root')
    await acquire(root, supervisor(undefined, Promise.resolve(lease)), profile, options())
    const queue = root.find(SPAN.queue)!
    expect(queue.attributes).toEqual({ 'herd.model': 'm:default', 'herd.queue.waited': false, 'herd.instance.id': 'm-1' })
    expect(queue.children).toEqual([])
    expect(queue.ended).toBe(1)
  })

  it('puts a spawn span inside the queue span when the request waits on a cold start', async () => {
    const root = new Recorder('root')
    const heard: QueueWait[] = []
    await acquire(root, supervisor({ kind: 'loading' }, Promise.resolve(lease)), profile, { ...options(), onWaiting: (s) => heard.push(s()) })
    const queue = root.find(SPAN.queue)!
    const spawn = queue.find(SPAN.spawn)!
    expect(queue.attributes['herd.queue.waited']).toBe(true)
    expect(spawn.attributes).toEqual({ 'herd.model': 'm:default', 'herd.instance.id': 'm-1' })
    expect([queue.ended, spawn.ended]).toEqual([1, 1])
    // The caller's own onWaiting still hears it.
    expect(heard).toEqual([{ kind: 'loading' }])
  })

  it('notes how many are ahead in line, and fails both spans when the wait fails', async () => {
    const root = new Recorder('root')
    const refused = Object.assign(new Error('full'), { code: 'queue_timeout' })
    await expect(acquire(root, supervisor({ kind: 'queued', ahead: 3 }, Promise.reject(refused)), profile, options())).rejects.toBe(refused)
    const queue = root.find(SPAN.queue)!
    expect(queue.attributes).toMatchObject({ 'herd.queue.waited': true, 'herd.queue.ahead': 3 })
    expect(queue.failed).toBe(refused)
    expect(queue.ended).toBe(1)
  })
})

describe('endAtLastByte', () => {
  const answer = (body: PassThrough, headers: Record<string, string> = {}) => Promise.resolve({ status: 200, headers, body, servedBy: 'b' })

  it('ends the span when the body ends, not at the head', async () => {
    const span = new Recorder(SPAN.forward)
    const body = new PassThrough()
    const res = await endAtLastByte(span, answer(body))
    expect(span.ended).toBe(0)
    res.body.resume()
    body.end('x')
    await new Promise((resolve) => res.body.once('end', resolve))
    expect(span.ended).toBe(1)
    expect(span.failed).toBeUndefined()
    expect(span.attributes).toMatchObject({ 'http.response.status_code': 200, 'herd.served_by': 'b' })
  })

  it('fails the span for a relayed refusal and for a body cut off', async () => {
    const refusal = new Recorder(SPAN.forward)
    await endAtLastByte(refusal, answer(new PassThrough(), { 'x-herd-error': 'queue_full' }))
    expect(refusal.failed).toEqual({ code: 'queue_full' })
    const cut = new Recorder(SPAN.forward)
    const res = await endAtLastByte(cut, answer(new PassThrough()))
    res.body.destroy()
    await new Promise((resolve) => res.body.once('close', resolve))
    expect(cut.failed).toEqual({ code: 'aborted' })
    expect(cut.ended).toBe(1)
  })
})
