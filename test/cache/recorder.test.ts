import { Readable } from 'node:stream'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { recordBody, recordingBudget } from '../../src/cache/recorder.ts'

const ticks = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe('the recording tee', () => {
  it('reads no further ahead of a client that does not read than the stream buffers allow', async () => {
    let reads = 0
    const upstream = new Readable({
      read() {
        reads++
        this.push(Buffer.alloc(16 * 1024))
      },
    })
    const tee = recordBody(upstream, 1024 * 1024, recordingBudget(1024 * 1024), () => {})
    await ticks(50)
    const stalled = reads
    // Upstream's buffer plus the tee's two sides (64 KiB each in Node 22), a chunk of slack: then it stops.
    expect(stalled * 16 * 1024).toBeLessThanOrEqual(4 * 64 * 1024)
    await ticks(50)
    expect(reads).toBe(stalled)
    // The client left: the upstream is destroyed (with a premature-close error), which aborts it.
    const closed = new Promise((resolve) => upstream.once('close', resolve))
    tee.destroy()
    await closed
    expect(upstream.destroyed).toBe(true)
  })

  it('hands over the whole body once it ended, and nothing past the cap', async () => {
    const got: Buffer[] = []
    const budget = recordingBudget(100)
    const tee = recordBody(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 4, budget, (b) => got.push(b))
    tee.resume()
    await once(tee, 'end')
    expect(got.map(String)).toEqual(['abcd'])
    const over = recordBody(Readable.from([Buffer.from('abc'), Buffer.from('de')]), 4, budget, (b) => got.push(b))
    const chunks: Buffer[] = []
    over.on('data', (c: Buffer) => chunks.push(c))
    await once(over, 'end')
    expect(Buffer.concat(chunks).toString()).toBe('abcde')
    expect(got).toHaveLength(1)
    expect(budget.used).toBe(0)
  })

  it('stops copying when the copies in flight together would outgrow the shared budget, and gives the bytes back', async () => {
    const budget = recordingBudget(10)
    const got: string[] = []
    const a = new Readable({ read() {} })
    const b = new Readable({ read() {} })
    const teeA = recordBody(a, 100, budget, (x) => got.push(`a:${x}`))
    const teeB = recordBody(b, 100, budget, (x) => got.push(`b:${x}`))
    teeA.resume()
    teeB.resume()
    a.push('123456')
    await ticks(5)
    b.push('123456')
    await ticks(5)
    expect(budget.used).toBe(6)
    a.push(null)
    b.push(null)
    await Promise.all([once(teeA, 'end'), once(teeB, 'end')])
    expect(got).toEqual(['a:123456'])
    expect(budget.used).toBe(0)
    const c = new Readable({ read() {} })
    const teeC = recordBody(c, 100, budget, () => got.push('c'))
    teeC.resume()
    c.push('1234')
    await ticks(5)
    expect(budget.used).toBe(4)
    const closed = new Promise((resolve) => teeC.once('close', resolve))
    teeC.destroy()
    await closed
    expect(budget.used).toBe(0)
  })
})
