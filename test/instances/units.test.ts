import { describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { parallelFromArgs, retryAfterSeconds } from '../../src/instances/capacity.ts'
import { LogRing } from '../../src/instances/log-ring.ts'
import { saysAddressInUse } from '../../src/instances/ports.ts'
import { WaitQueue } from '../../src/instances/queue.ts'
import { Ewma } from '../../src/instances/rate.ts'
import { llamaArgv } from '../../src/instances/spawn.ts'
import type { Lease } from '../../src/instances/types.ts'
import { rejectionOf, waitFor } from './helpers.ts'

describe('LogRing', () => {
  it('keeps only the last lines and joins lines split across chunks', () => {
    const ring = new LogRing(3)
    ring.push('one\ntw')
    ring.push('o\r\nthree\nfour\nfi')
    expect(ring.lines()).toEqual(['two', 'three', 'four', 'fi'])
    ring.flush()
    expect(ring.tail(2)).toEqual(['four', 'fi'])
  })
})

describe('parallelFromArgs', () => {
  it('reads -np, --parallel and --parallel=, and ignores auto (-1)', () => {
    expect(parallelFromArgs(['-c', '512', '-np', '3'])).toBe(3)
    expect(parallelFromArgs(['--parallel', '2'])).toBe(2)
    expect(parallelFromArgs(['--parallel=5'])).toBe(5)
    expect(parallelFromArgs(['-np', '-1'])).toBeUndefined()
    expect(parallelFromArgs([])).toBeUndefined()
  })
})

describe('retryAfterSeconds', () => {
  it('scales with the line ahead and the learned hold time, between 1 and 60 seconds', () => {
    expect(retryAfterSeconds({ ahead: 0, slots: 1, holdMs: null })).toBe(1)
    expect(retryAfterSeconds({ ahead: 3, slots: 2, holdMs: 2_000 })).toBe(4)
    expect(retryAfterSeconds({ ahead: 1_000, slots: 1, holdMs: 10_000 })).toBe(60)
  })
})

describe('Ewma', () => {
  it('starts at the first sample and ignores non-positive ones', () => {
    const e = new Ewma(0.5)
    expect(e.value).toBeNull()
    e.add(10)
    e.add(0)
    e.add(20)
    expect(e.value).toBe(15)
  })
})

describe('llamaArgv', () => {
  it('runs the binary under setpriv --pdeathsig KILL, with the model, args, host and port', () => {
    expect(llamaArgv({ binary: '/b/llama-server', modelPath: '/m.gguf', args: ['-np', '2'], host: '127.0.0.1', port: 5, setpriv: '/usr/bin/setpriv' })).toEqual(
      ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', '/b/llama-server', '-m', '/m.gguf', '-np', '2', '--host', '127.0.0.1', '--port', '5'],
    )
  })

  it('runs the binary directly without setpriv, and without -m for hf profiles', () => {
    expect(llamaArgv({ binary: 'b', modelPath: undefined, args: ['-hf', 'x/y'], host: 'h', port: 1, setpriv: undefined })).toEqual([
      'b',
      '-hf',
      'x/y',
      '--host',
      'h',
      '--port',
      '1',
    ])
  })
})

describe('saysAddressInUse', () => {
  it("recognizes llama-server's bind failure", () => {
    expect(saysAddressInUse(["couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080"])).toBe(true)
    expect(saysAddressInUse(['main: model loaded'])).toBe(false)
  })
})

describe('WaitQueue', () => {
  const fakeLease = (id: string): Lease => ({ instanceId: id, baseUrl: '', exited: new AbortController().signal, release: () => {} })
  const policy = (owed = 0) => ({ owed: () => owed, timeoutError: (at: number) => new HerdError('queue_timeout', `timed out at ${at}`), changed: () => {} })

  it('serves waiters first in, first out', async () => {
    const q = new WaitQueue(policy())
    const a = q.add({ signal: new AbortController().signal, requestId: 'a', timeoutMs: 10_000 })
    const b = q.add({ signal: new AbortController().signal, requestId: 'b', timeoutMs: 10_000 })
    q.shift()?.resolve(fakeLease('1'))
    q.shift()?.resolve(fakeLease('2'))
    expect([(await a).instanceId, (await b).instanceId]).toEqual(['1', '2'])
    expect(q.length).toBe(0)
  })

  it('keeps a timed-out waiter that a starting instance owes a slot, until swept', async () => {
    let owed = 1
    const q = new WaitQueue({ ...policy(), owed: () => owed })
    const w = rejectionOf(q.add({ signal: new AbortController().signal, requestId: undefined, timeoutMs: 10 }))
    await waitFor(() => q.expired().length === 1, 1_000, 'the waiter to expire')
    expect(q.length).toBe(1)
    owed = 0
    q.sweepExpired()
    expect(await w).toMatchObject({ code: 'queue_timeout', message: 'timed out at 0' })
    expect(q.length).toBe(0)
  })

  it('moves waiters to another queue in order, keeping their signals armed', async () => {
    const from = new WaitQueue(policy())
    const to = new WaitQueue(policy())
    const ctl = new AbortController()
    const a = rejectionOf(from.add({ signal: ctl.signal, requestId: 'a', timeoutMs: 10_000 }))
    const b = from.add({ signal: new AbortController().signal, requestId: 'b', timeoutMs: 10_000 })
    from.moveTo(to)
    expect([from.length, to.length]).toEqual([0, 2])
    ctl.abort(new Error('bye'))
    expect(await a).toMatchObject({ message: 'bye' })
    to.shift()?.resolve(fakeLease('x'))
    expect((await b).instanceId).toBe('x')
  })
})
