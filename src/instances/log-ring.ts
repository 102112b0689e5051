/**
 * The last lines a llama-server wrote (stdout and stderr together). Bounded, so a chatty
 * server cannot grow the daemon; kept so spawn failures and `herd ps` can show why.
 */

/** A partial line longer than this is cut: a binary dump must not hold memory hostage. */
const MAX_PARTIAL = 16 * 1024

export class LogRing {
  private readonly capacity: number
  private readonly buf: string[] = []
  private partial = ''
  /** Hears each whole line the process writes (not herd's own notes), as it arrives. */
  onLine: ((line: string) => void) | undefined

  constructor(capacity = 500) {
    this.capacity = Math.max(1, capacity)
  }

  /** Append raw output; complete lines enter the ring, the rest waits for its newline. */
  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'))
    const parts = text.split('\n')
    this.partial = (parts.pop() ?? '').slice(0, MAX_PARTIAL)
    for (const raw of parts) {
      const line = raw.replace(/\r$/, '')
      this.add(line)
      this.onLine?.(line)
    }
  }

  /** Add one whole line (herd's own notes, e.g. a spawn error). */
  add(line: string): void {
    this.buf.push(line)
    if (this.buf.length > this.capacity) this.buf.splice(0, this.buf.length - this.capacity)
  }

  /** Flush a trailing line that never got its newline (the process exited). */
  flush(): void {
    if (this.partial !== '') this.add(this.partial)
    this.partial = ''
  }

  lines(): string[] {
    return this.partial === '' ? [...this.buf] : [...this.buf, this.partial]
  }

  tail(n: number): string[] {
    return this.lines().slice(-n)
  }
}
