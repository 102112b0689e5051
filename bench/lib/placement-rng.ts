/** A seeded PRNG (mulberry32) and the few distributions the placement simulation draws from. */

export class Rng {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Exponential with this mean (inter-arrival gaps of a Poisson process). */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  /** An index drawn with these (unnormalized) weights. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, w) => a + w, 0)
    let x = this.next() * total
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] ?? 0
      if (x < 0) return i
    }
    return weights.length - 1
  }
}

/** Zipf weights 1/rank^s for ranks 1..n. */
export function zipf(n: number, s: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s)
}
