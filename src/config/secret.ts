/**
 * A credential as a value of its own type: whatever prints it (a logger, JSON.stringify,
 * util.inspect, a template string, an error message) gets `[redacted]`. Only `reveal()`
 * gives the text, and only the code that sends it upstream calls that.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { inspect } from 'node:util'

export const REDACTED = '[redacted]'

export class Secret {
  // A private field: not enumerable, not copied by spreads, structuredClone or Object.entries.
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  /** The credential itself, for the one header it goes into. */
  reveal(): string {
    return this.#value
  }

  /** Whether two secrets hold the same text (compared by digest, in constant time). */
  equals(other: Secret | undefined): boolean {
    if (other === undefined) return false
    const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
    return timingSafeEqual(digest(this.#value), digest(other.#value))
  }

  toJSON(): string {
    return REDACTED
  }

  toString(): string {
    return REDACTED
  }

  [Symbol.toPrimitive](): string {
    return REDACTED
  }

  [inspect.custom](): string {
    return REDACTED
  }
}
