/**
 * Ports for llama-server children. With `llama.port_base: 0` the kernel picks (bind :0,
 * read it, close); with a base N, the lowest port ≥ N that no live instance of this daemon
 * holds and that binds right now. Either way a port stays held from the probe until its
 * instance is gone, so two starts never get the same one. A probe is not a reservation:
 * another process can still take the port before llama-server binds it, which the
 * instance notices in the log and answers by trying the next one.
 */
import { createServer } from 'node:net'
import { HerdError } from '../errors/index.ts'

const MAX_PORT = 65_535
/** Kernel picks that collide with a held port are rare; this many in a row means something is wrong. */
const EPHEMERAL_TRIES = 16

export class PortAllocator {
  private readonly held = new Set<number>()
  private readonly host: string
  private readonly base: number

  /** `base` 0: the kernel picks. */
  constructor(host: string, base: number) {
    this.host = host
    this.base = base
  }

  /** A port for a new child, held until `release`. Rejects with 'spawn_failed' when none is free. */
  async claim(): Promise<number> {
    return this.base === 0 ? this.claimEphemeral() : this.claimFromBase()
  }

  release(port: number): void {
    this.held.delete(port)
  }

  /** Ports held now (tests, logs). */
  holding(): number[] {
    return [...this.held].sort((a, b) => a - b)
  }

  private async claimEphemeral(): Promise<number> {
    for (let i = 0; i < EPHEMERAL_TRIES; i++) {
      const port = await freePort(this.host)
      if (this.held.has(port)) continue
      this.held.add(port)
      return port
    }
    throw new HerdError('spawn_failed', `no free port on ${this.host}: the kernel kept offering ports held by running instances`)
  }

  private async claimFromBase(): Promise<number> {
    for (let port = this.base; port <= MAX_PORT; port++) {
      if (this.held.has(port)) continue
      // Held before the probe resolves: a concurrent claim moves on to the next port.
      this.held.add(port)
      let free = false
      try {
        free = await canBind(this.host, port)
      } finally {
        if (!free) this.held.delete(port)
      }
      if (free) return port
    }
    throw new HerdError('spawn_failed', `no free port on ${this.host} at or above llama.port_base ${this.base}`)
  }
}

/** Pick a free TCP port the way the kernel would: bind :0, read it, close. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read a free port'))))
    })
  })
}

/**
 * Whether `port` can be listened on now. In use (or privileged) means no; any other
 * failure (an address that is not this machine's) would fail every port, so it is thrown.
 */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false)
      else reject(new HerdError('spawn_failed', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
    })
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

/**
 * Whether a server's log says it lost the race for its port (someone bound it between our
 * probe and its listen). llama-server prints "couldn't bind HTTP server socket".
 */
export function saysAddressInUse(lines: readonly string[]): boolean {
  return lines.some((l) => /address already in use|EADDRINUSE|couldn't bind/i.test(l))
}
