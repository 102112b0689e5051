/**
 * The virtual clock of the placement simulation: a min-heap of timed callbacks. Nothing
 * here reads wall time, so a run is a pure function of its seed.
 */

export interface Timer {
  readonly at: number
  cancelled: boolean
}

interface Entry extends Timer {
  readonly order: number
  readonly fn: () => void
}

export class Clock {
  now = 0
  private readonly heap: Entry[] = []
  private order = 0

  /** Run `fn` at virtual time `at` (ms); same-time callbacks run in scheduling order. */
  at(at: number, fn: () => void): Timer {
    const e: Entry = { at: Math.max(at, this.now), order: this.order++, fn, cancelled: false }
    this.heap.push(e)
    this.up(this.heap.length - 1)
    return e
  }

  after(ms: number, fn: () => void): Timer {
    return this.at(this.now + ms, fn)
  }

  /** Run callbacks in time order until `done()` or nothing is left. */
  run(done: () => boolean): void {
    while (this.heap.length > 0 && !done()) {
      const e = this.pop()
      if (e.cancelled) continue
      this.now = e.at
      e.fn()
    }
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order)
  }

  private pop(): Entry {
    const h = this.heap
    const top = h[0] as Entry
    const last = h.pop() as Entry
    if (h.length > 0) {
      h[0] = last
      this.down(0)
    }
    return top
  }

  private up(i: number): void {
    const h = this.heap
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i] as Entry, h[p] as Entry)) return
      ;[h[i], h[p]] = [h[p] as Entry, h[i] as Entry]
      i = p
    }
  }

  private down(i: number): void {
    const h = this.heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.less(h[l] as Entry, h[m] as Entry)) m = l
      if (r < h.length && this.less(h[r] as Entry, h[m] as Entry)) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m] as Entry, h[i] as Entry]
      i = m
    }
  }
}
