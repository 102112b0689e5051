/**
 * Prometheus counters and histograms for the request path: counted in plain numbers per
 * label set and read by prom-client's registry only when /metrics is scraped. prom-client's
 * own inc() and observe() validate and hash their label object on every call, and observe()
 * makes a closure and two objects (~1–3.5 µs a call in bench:proxy's profile); these cost a
 * Map lookup and a few number writes. The exposition is prom-client's: the registry formats
 * what get() returns (tested equal to prom-client's own metrics fed the same values).
 */
import type { Registry } from 'prom-client'

type Labels<L extends string> = Record<L, string>

interface Value {
  labels: Record<string, string | number>
  value: number
  metricName?: string
}

interface Shape<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  registers: readonly Registry[]
}

/** One series per label set, keyed by the values joined with NUL: no object or sort per call. */
class LabelSets<L extends string, S> {
  private readonly labelNames: readonly L[]
  private readonly make: () => S
  private readonly sets = new Map<string, { labels: Labels<L>; series: S }>()

  constructor(labelNames: readonly L[], make: () => S) {
    this.labelNames = labelNames
    this.make = make
  }

  of(labels: Labels<L>): S {
    let key = ''
    for (const n of this.labelNames) key += `${labels[n]}\u0000`
    let set = this.sets.get(key)
    // A value holding a NUL (a peer's node name, say) that lands on another set's key falls back to an unambiguous one.
    if (set !== undefined && !this.same(set.labels, labels)) {
      key = JSON.stringify(this.labelNames.map((n) => labels[n]))
      set = this.sets.get(key)
    }
    if (set === undefined) {
      const own = {} as Labels<L>
      for (const n of this.labelNames) own[n] = String(labels[n])
      set = { labels: own, series: this.make() }
      this.sets.set(key, set)
    }
    return set.series
  }

  all(): IterableIterator<{ labels: Labels<L>; series: S }> {
    return this.sets.values()
  }

  clear(): void {
    this.sets.clear()
  }

  private same(a: Labels<L>, b: Labels<L>): boolean {
    for (const n of this.labelNames) if (a[n] !== b[n]) return false
    return true
  }
}

function register(metric: object, registers: readonly Registry[]): void {
  for (const r of registers) r.registerMetric(metric as Parameters<Registry['registerMetric']>[0])
}

export class HotCounter<L extends string> {
  readonly name: string
  readonly help: string
  readonly type = 'counter'
  readonly aggregator = 'sum'
  private readonly sets: LabelSets<L, { value: number }>

  constructor(o: Shape<L>) {
    this.name = o.name
    this.help = o.help
    this.sets = new LabelSets(o.labelNames, () => ({ value: 0 }))
    register(this, o.registers)
  }

  inc(labels: Labels<L>, value = 1): void {
    // prom-client throws on these; a counter must not fail the request being answered.
    if (!Number.isFinite(value) || value < 0) return
    this.sets.of(labels).value += value
  }

  get(): Promise<{ name: string; help: string; type: 'counter'; aggregator: 'sum'; values: Value[] }> {
    const values: Value[] = []
    for (const { labels, series } of this.sets.all()) values.push({ value: series.value, labels })
    return Promise.resolve({ name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values })
  }

  reset(): void {
    this.sets.clear()
  }
}

interface Buckets {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: Float64Array
  sum: number
  count: number
}

export class HotHistogram<L extends string> {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly bounds: readonly number[]
  private readonly sets: LabelSets<L, Buckets>

  constructor(o: Shape<L> & { buckets: readonly number[] }) {
    this.name = o.name
    this.help = o.help
    this.bounds = [...o.buckets].sort((a, b) => a - b)
    this.sets = new LabelSets(o.labelNames, () => ({ counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }))
    register(this, o.registers)
  }

  observe(labels: Labels<L>, value: number): void {
    // A NaN or infinite duration is a bug upstream of here; it must not fail the request being answered.
    if (!Number.isFinite(value)) return
    const s = this.sets.of(labels)
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    s.counts[i] = (s.counts[i] as number) + 1
    s.sum += value
    s.count++
  }

  /** What prom-client's registry reads at a scrape (its histogram's shape: cumulative buckets, then sum and count). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Value[] }> {
    const values: Value[] = []
    for (const { labels, series: s } of this.sets.all()) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += s.counts[i] as number
        values.push({ labels: { le, ...labels }, value: acc, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf', ...labels }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels, value: s.count, metricName: `${this.name}_count` })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values })
  }

  reset(): void {
    this.sets.clear()
  }
}
