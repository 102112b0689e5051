/**
 * The semantic cache's index: for each stored answer that has one, the embedding of its
 * prompt (unit length) and the digest of the rest of its request (its context). A lookup is
 * a linear scan over the rows of the request's context, at most `maxEntries` (dot products
 * of unit vectors are cosines): 1 to 3 ms when all of the default 1,000 rows of 384 to 1,024
 * dimensions share one context, on a 2-core VM (bench:cache); the least recently used row
 * goes first when full. Rows name exact-cache entries and live no longer than those.
 */
import { LRUCache } from 'lru-cache'

interface Row {
  /** Digest of everything in the request but the embedded text. */
  context: string
  vector: Float32Array
}

export interface Nearest {
  key: string
  similarity: number
}

export class SemanticIndex {
  private readonly rows: LRUCache<string, Row>
  /** Context → the keys of its rows, so a lookup scans only what could match. */
  private readonly byContext = new Map<string, Set<string>>()

  constructor(o: { maxEntries: number; ttlMs: number; now: () => number }) {
    this.rows = new LRUCache<string, Row>({
      max: o.maxEntries,
      ttl: o.ttlMs,
      ttlResolution: 0,
      perf: { now: o.now },
      dispose: (row, key) => {
        const keys = this.byContext.get(row.context)
        keys?.delete(key)
        if (keys?.size === 0) this.byContext.delete(row.context)
      },
    })
  }

  get size(): number {
    return this.rows.size
  }

  add(key: string, context: string, vector: readonly number[]): void {
    const unit = normalize(vector)
    if (unit === undefined) return
    this.rows.set(key, { context, vector: unit })
    const keys = this.byContext.get(context) ?? new Set<string>()
    keys.add(key)
    this.byContext.set(context, keys)
  }

  delete(key: string): void {
    this.rows.delete(key)
  }

  clear(): void {
    this.rows.clear()
    this.byContext.clear()
  }

  /** The most similar row of the same context at or above `threshold`, best first among those `usable` accepts. */
  nearest(context: string, vector: readonly number[], threshold: number, usable: (key: string) => boolean): Nearest | undefined {
    const unit = normalize(vector)
    if (unit === undefined) return undefined
    const found: Nearest[] = []
    for (const key of this.byContext.get(context) ?? []) {
      // peek: no recency for rows merely scanned, and undefined once expired.
      const row = this.rows.peek(key)
      if (row === undefined || row.vector.length !== unit.length) continue
      const similarity = dot(row.vector, unit)
      if (similarity >= threshold) found.push({ key, similarity })
    }
    found.sort((a, b) => b.similarity - a.similarity)
    for (const n of found) {
      if (usable(n.key)) {
        this.rows.get(n.key)
        return n
      }
      this.rows.delete(n.key)
    }
    return undefined
  }
}

/** The vector at unit length, or undefined when it has none (all zeros, or not finite). */
export function normalize(vector: readonly number[]): Float32Array | undefined {
  let sum = 0
  for (const x of vector) sum += x * x
  const norm = Math.sqrt(sum)
  if (!Number.isFinite(norm) || norm === 0) return undefined
  return Float32Array.from(vector, (x) => x / norm)
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number)
  return s
}
