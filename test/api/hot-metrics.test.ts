/** The request path's metrics are counted without prom-client, but must scrape exactly as prom-client's own would. */
import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { HotCounter, HotHistogram } from '../../src/api/hot-metrics.ts'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const shape = { name: 'herd_time_to_first_byte_seconds', help: 'From request received to response head ready', labelNames: ['endpoint', 'served_by'] as const }

describe('HotHistogram', () => {
  it('scrapes exactly as a prom-client Histogram fed the same observations', async () => {
    const ours = new Registry()
    const theirs = new Registry()
    const hot = new HotHistogram({ ...shape, buckets: BUCKETS, registers: [ours] })
    const reference = new Histogram({ ...shape, labelNames: [...shape.labelNames], buckets: BUCKETS, registers: [theirs] })
    const seen: [string, string, number][] = [
      ['chat', 'a', 0.001],
      ['chat', 'a', 0.005],
      ['chat', 'a', 0.0051],
      ['chat', 'b', 0.3],
      ['embeddings', 'a', 61],
      ['chat', 'a', 2.5],
      ['messages', 'node "quoted"\n', 0.02],
    ]
    for (const [endpoint, served_by, v] of seen) {
      hot.observe({ endpoint, served_by }, v)
      reference.observe({ endpoint, served_by }, v)
    }
    expect(await ours.metrics()).toBe(await theirs.metrics())
    // The JSON form (cluster aggregation reads it) too, less prom-client's always-empty exemplar fields.
    const plain = (ms: Awaited<ReturnType<Registry['getMetricsAsJSON']>>): unknown =>
      ms.map((m) => ({
        ...m,
        values: m.values.map((v: { labels: unknown; value: number }) => ({
          labels: v.labels,
          value: v.value,
          metricName: (v as { metricName?: string }).metricName,
        })),
      }))
    expect(plain(await ours.getMetricsAsJSON())).toEqual(plain(await theirs.getMetricsAsJSON()))
    hot.reset()
    reference.reset()
    expect(await ours.metrics()).toBe(await theirs.metrics())
  })

  it('keeps label sets apart whose values would join to the same key, and drops a value that is not a finite number', async () => {
    const registry = new Registry()
    const hot = new HotHistogram({ name: 'h', help: 'h', labelNames: ['a', 'b'], buckets: [1], registers: [registry] })
    hot.observe({ a: 'x\u0000', b: 'y' }, 0.5)
    hot.observe({ a: 'x', b: '\u0000y' }, 0.5)
    hot.observe({ a: 'x', b: 'y' }, Number.NaN)
    const counts = (await hot.get()).values.filter((v) => v.metricName === 'h_count')
    expect(counts.map((v) => [v.labels, v.value])).toEqual([
      [{ a: 'x\u0000', b: 'y' }, 1],
      [{ a: 'x', b: '\u0000y' }, 1],
    ])
  })

  it('a counter scrapes exactly as a prom-client Counter fed the same increments, and ignores a negative or non-finite one', async () => {
    const ours = new Registry()
    const theirs = new Registry()
    const shape3 = { name: 'herd_requests_total', help: 'Requests answered', labelNames: ['endpoint', 'model', 'status'] as const }
    const hot = new HotCounter({ ...shape3, registers: [ours] })
    const reference = new Counter({ ...shape3, labelNames: [...shape3.labelNames], registers: [theirs] })
    const seen: [string, string, string, number][] = [
      ['chat', 'm:default', '200', 1],
      ['chat', 'm:default', '200', 1],
      ['embeddings', 'e:default', 'error', 1],
      ['chat', 'back\\slash "q"', 'aborted', 2.5],
    ]
    for (const [endpoint, model, status, v] of seen) {
      hot.inc({ endpoint, model, status }, v)
      reference.inc({ endpoint, model, status }, v)
    }
    hot.inc({ endpoint: 'chat', model: 'm:default', status: '200' }, -1)
    hot.inc({ endpoint: 'chat', model: 'm:default', status: '200' }, Number.NaN)
    expect(await ours.metrics()).toBe(await theirs.metrics())
    expect((await hot.get()).values).toEqual((await reference.get()).values.map((v) => ({ value: v.value, labels: v.labels })))
  })
})
