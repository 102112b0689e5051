/** The supervisor's components, options, events and counters. */
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { existsSync } from 'node:fs'
import type { ProcessInfo } from './instance.ts'
import type { Fit } from './prepare.ts'
import type { ExitInfo } from './spawn.ts'
import type { InstanceEvents } from './types.ts'

export interface InstanceManagerComponents {
  logger: Logger
  /** Path of the llama-server binary (resolved at each spawn, so a fresh build is picked up). */
  binary: () => Promise<string> | string
  /** Where `instances.json` (the pid file) lives; HERD_HOME in the daemon. */
  runtimeDir: string
  /** For health probes; one keep-alive Agent per manager when not given. */
  dispatcher?: Dispatcher
  /** Called before every spawn; throw HerdError 'no_capacity' to refuse it. */
  fit?: Fit
  onProcessStarted?: (info: ProcessInfo) => void
  onProcessExited?: (info: ProcessInfo & ExitInfo & { expected: boolean }) => void
}

export interface InstanceManagerInit {
  /** Between SIGTERM and SIGKILL. Default 5000. */
  killGraceMs?: number
  /** Between two `/health` probes of a starting server. Default 50. */
  healthIntervalMs?: number
  /** Log lines kept per instance. Default 500. */
  logLines?: number
  /** Address the servers listen on. Default 127.0.0.1. */
  host?: string
  /** setpriv for `--pdeathsig KILL`; false runs the binary directly. Default /usr/bin/setpriv when present. */
  setpriv?: string | false
  /** Slots a starting instance is assumed to bring when its args do not say (llama-server's auto is 4). Default 4. */
  defaultSlots?: number
  /** Spawns tried when another process takes the chosen port first. Default 3. */
  portAttempts?: number
  /**
   * `llama.port_base`: children get the lowest port at or above it that no live instance
   * holds and that is free now. 0 lets the kernel choose. Default 0.
   */
  portBase?: number
}

export type ManagerStatus = 'stopped' | 'started' | 'draining' | 'stopping'

/** Node's typed EventEmitter map: each event carries one payload. */
export type InstanceEventMap = { [K in keyof InstanceEvents]: [InstanceEvents[K]] }

export interface InstanceCounters {
  spawns: number
  spawnFailures: number
  /** Ready instances that exited without herd asking. */
  unexpectedExits: number
  idleStops: number
}

export interface InstanceLogs {
  instanceId: string
  profileId: string
  lines: string[]
}

const SETPRIV = '/usr/bin/setpriv'

export function resolveInit(init: InstanceManagerInit): Required<Omit<InstanceManagerInit, 'setpriv'>> & { setpriv: string | undefined } {
  return {
    killGraceMs: init.killGraceMs ?? 5_000,
    healthIntervalMs: init.healthIntervalMs ?? 50,
    logLines: init.logLines ?? 500,
    host: init.host ?? '127.0.0.1',
    setpriv: init.setpriv === false ? undefined : (init.setpriv ?? (existsSync(SETPRIV) ? SETPRIV : undefined)),
    defaultSlots: init.defaultSlots ?? 4,
    portAttempts: init.portAttempts ?? 3,
    portBase: init.portBase ?? 0,
  }
}
