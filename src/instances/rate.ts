/** Exponentially weighted moving average: recent releases count most, one outlier does not. */
export class Ewma {
  private current: number | null = null
  private readonly alpha: number

  constructor(alpha = 0.3) {
    this.alpha = alpha
  }

  add(sample: number): void {
    if (!Number.isFinite(sample) || sample <= 0) return
    this.current = this.current === null ? sample : this.alpha * sample + (1 - this.alpha) * this.current
  }

  get value(): number | null {
    return this.current
  }
}
