/**
 * One llama-server instance: its process, its start (port, spawn, health, slot layout),
 * its state, and its end. Scheduling (who gets a slot) lives in the pool, not here.
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError } from '../errors/index.ts'
import { LISTENING_LINE, readSlotInfo, waitHealthy, type SlotInfo } from './health.ts'
import { terminate } from './kill.ts'
import { LogRing } from './log-ring.ts'
import { procInfo, type PidRecord } from './pidfile.ts'
import { saysAddressInUse, type PortAllocator } from './ports.ts'
import type { Prepared } from './prepare.ts'
import { spawnLlama, type ExitInfo, type LlamaProcess } from './spawn.ts'
import type { InstanceSnapshot, InstanceStatus } from './types.ts'

/** A process as the hardware hooks see it. */
export interface ProcessInfo {
  instanceId: string
  profileId: string
  launchHash: string
  pid: number
}

export interface InstanceDeps {
  logger: Logger
  dispatcher: Dispatcher
  host: string
  setpriv: string | undefined
  healthIntervalMs: number
  killGraceMs: number
  logLines: number
  /** How many times a start is retried when another process took its port first. */
  portAttempts: number
  /** Shared by the manager's instances; a port is held from the probe until the instance is gone. */
  ports: PortAllocator
  /** Aborted when the manager stops. */
  signal: AbortSignal
  onProcessStarted?: (info: ProcessInfo) => void
  onProcessExited?: (info: ProcessInfo & ExitInfo & { expected: boolean }) => void
}

/** Lines of log a spawn failure quotes. */
const TAIL_LINES = 20

type Outcome = 'ready' | 'exited' | 'timeout' | 'aborted'

export class Instance {
  readonly id: string
  readonly profile: ProfileSpec
  readonly log: LogRing
  readonly startedAt = Date.now()
  state: InstanceStatus = { status: 'starting', since: Date.now() }
  /** Leases out now. */
  busy = 0
  lastUsedAt = Date.now()
  /** Monotonic twin of lastUsedAt, fine enough to order instances used in the same millisecond (LRU). */
  lastUsedMono = performance.now()
  /** No new leases; stop once idle (unload, removed profile, changed args). */
  draining = false
  /** herd asked it to stop, so its exit is no surprise. */
  expectedExit = false
  /** It reached 'ready' at some point (a failed start never did). */
  everReady = false
  /** Resolves when the instance is gone for good (exited, or never managed to start). */
  readonly closed: Promise<ExitInfo>
  /** Called once, when it reaches 'exited'. */
  onExit: ((inst: Instance) => void) | undefined
  private readonly deps: InstanceDeps
  private readonly exitCtl = new AbortController()
  private readonly startCtl = new AbortController()
  private resolveClosed: (info: ExitInfo) => void = () => {}
  private proc: LlamaProcess | undefined
  /** GPUs the launch was placed on (empty: CPU, or not placed by herd). */
  private gpus: number[] = []
  private port = 0
  private record: PidRecord | undefined

  constructor(id: string, profile: ProfileSpec, deps: InstanceDeps) {
    this.id = id
    this.profile = profile
    this.deps = deps
    this.log = new LogRing(deps.logLines)
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve))
  }

  /** Aborted the moment the process exits. */
  get exited(): AbortSignal {
    return this.exitCtl.signal
  }

  get baseUrl(): string {
    return `http://${this.deps.host}:${this.port}`
  }

  /** Free slots a new lease may take (0 unless ready and not draining). */
  get free(): number {
    return this.state.status === 'ready' && !this.draining ? Math.max(0, this.state.slots - this.busy) : 0
  }

  /**
   * Bring it up: `prepare` checks the model and the memory fit and names the binary, then
   * spawn and wait for health. Rejects with prepare's error, or 'spawn_failed' quoting the log.
   */
  async start(prepare: (signal: AbortSignal) => Promise<Prepared>): Promise<void> {
    try {
      await this.run(prepare)
    } catch (err: unknown) {
      // Whatever went wrong, leave no process behind and settle `closed`.
      const info = this.proc === undefined ? { code: null, signal: null } : await terminate(this.proc, this.deps.killGraceMs)
      this.finish(info)
      throw err
    }
  }

  private async run(prepare: (signal: AbortSignal) => Promise<Prepared>): Promise<void> {
    const signal = AbortSignal.any([this.startCtl.signal, this.deps.signal])
    // The first port is probed while prepare runs: a cold request waits on both.
    const firstPort = this.deps.ports.claim()
    firstPort.catch(() => {})
    let prepared: Prepared
    try {
      prepared = await prepare(signal)
    } catch (err: unknown) {
      void firstPort.then(
        (p) => this.deps.ports.release(p),
        () => {},
      )
      throw err
    }
    const { binary, placement } = prepared
    this.gpus = [...(placement.gpus ?? [])]
    const deadline = Date.now() + this.profile.startupTimeoutMs
    for (let attempt = 1; ; attempt++) {
      const port = await (attempt === 1 ? firstPort : this.deps.ports.claim())
      // The port the last attempt lost stays held until now, so this attempt gets another.
      if (this.port > 0) this.deps.ports.release(this.port)
      this.port = port
      if (signal.aborted) throw this.fail('stopped before it was ready', { code: null, signal: null })
      const proc = spawnLlama({
        binary,
        modelPath: this.profile.modelPath,
        args: [...this.profile.args, ...(placement.args ?? [])],
        ...(placement.env ? { env: placement.env } : {}),
        host: this.deps.host,
        port,
        setpriv: this.deps.setpriv,
        log: this.log,
      })
      this.proc = proc
      this.record = proc.pid === undefined ? undefined : { pid: proc.pid, instanceId: this.id, profileId: this.profile.id, binary, startedAt: Date.now() }
      if (proc.pid !== undefined) {
        const pid = proc.pid
        this.hook(pid)
        void proc.exited.then((info) => this.hook(pid, info))
      }
      const outcome = await this.waitReady(proc, deadline, signal)
      if (outcome === 'ready') {
        let layout: SlotInfo
        // The process record (/proc) is read while the slot layout is asked for: a cold request waits on both.
        const procRead = this.readProc(proc)
        try {
          layout = await readSlotInfo(this.baseUrl, { dispatcher: this.deps.dispatcher, signal })
        } catch (err: unknown) {
          this.log.add(`herd: could not read /props or /slots: ${err instanceof Error ? err.message : String(err)}`)
          await procRead
          throw this.fail('its slot layout could not be read', await terminate(proc, this.deps.killGraceMs))
        }
        await procRead
        if (signal.aborted) throw this.fail('it was stopped before it was ready', await terminate(proc, this.deps.killGraceMs))
        this.state = { status: 'ready', port, slots: layout.slots, nCtx: layout.nCtx, since: Date.now() }
        this.everReady = true
        void proc.exited.then((info) => this.finish(info))
        return
      }
      if (outcome === 'exited') {
        const info = await proc.exited
        if (saysAddressInUse(this.log.tail(5)) && attempt < this.deps.portAttempts && !signal.aborted && Date.now() < deadline) {
          this.log.add(`herd: port ${port} was taken, retrying on another`)
          continue
        }
        throw this.fail(`it exited (${describe(info)}) before it was ready`, info)
      }
      const info = await terminate(proc, this.deps.killGraceMs)
      throw this.fail(outcome === 'timeout' ? `it was not ready within ${this.profile.startupTimeoutMs} ms` : 'it was stopped before it was ready', info)
    }
  }

  /** Stop it (SIGTERM, SIGKILL after the grace); resolves when it is gone. Idempotent. */
  stop(): Promise<ExitInfo> {
    this.expectedExit = true
    this.draining = true
    if (this.state.status === 'ready') this.state = { status: 'stopping', since: Date.now() }
    this.startCtl.abort()
    if (this.proc !== undefined && this.state.status === 'stopping') void terminate(this.proc, this.deps.killGraceMs)
    return this.closed
  }

  /** What the pid file records about it, while its process runs. */
  pidRecord(): PidRecord | undefined {
    return this.state.status === 'exited' ? undefined : this.record
  }

  snapshot(): InstanceSnapshot {
    return {
      id: this.id,
      profileId: this.profile.id,
      pid: this.proc?.pid,
      port: this.port,
      state: this.state,
      busy: this.busy,
      lastUsedAt: this.lastUsedAt,
      startedAt: this.startedAt,
      gpus: this.gpus,
    }
  }

  private async waitReady(proc: LlamaProcess, deadline: number, outer: AbortSignal): Promise<Outcome> {
    const local = new AbortController()
    const signal = AbortSignal.any([local.signal, outer])
    const race: Promise<Outcome>[] = [
      waitHealthy(this.baseUrl, {
        dispatcher: this.deps.dispatcher,
        signal,
        intervalMs: this.deps.healthIntervalMs,
        nudge: (probeNow) => this.onListening(probeNow),
      }).then((): Outcome => 'ready'),
      proc.exited.then((): Outcome => 'exited'),
      delay(Math.max(0, deadline - Date.now()), 'timeout' as const, { signal }),
    ]
    try {
      // Losers reject with AbortError once `local` aborts; those rejections mean nothing.
      return await Promise.race(race.map((p) => p.catch((): Outcome => 'aborted')))
    } finally {
      local.abort()
    }
  }

  /** Calls `probeNow` when llama-server logs that it listens (a hint: readiness stays /health's word); returns the unhook. */
  private onListening(probeNow: () => void): () => void {
    this.log.onLine = (line) => {
      if (LISTENING_LINE.test(line)) probeNow()
    }
    return () => {
      this.log.onLine = undefined
    }
  }

  private async readProc(proc: LlamaProcess): Promise<void> {
    if (proc.pid === undefined || this.record === undefined) return
    const info = await procInfo(proc.pid)
    if (info !== undefined) this.record = { ...this.record, cmdline: info.cmdline, procStart: info.procStart }
  }

  private fail(reason: string, info: ExitInfo): HerdError {
    this.finish(info)
    const tail = this.log.tail(TAIL_LINES)
    const logPart = tail.length > 0 ? ` Last log lines:\n${tail.join('\n')}` : ' It logged nothing.'
    return new HerdError('spawn_failed', `llama-server for '${this.profile.id}' failed to start: ${reason}.${logPart}`)
  }

  private finish(info: ExitInfo): void {
    if (this.state.status === 'exited') return
    this.state = { status: 'exited', code: info.code, signal: info.signal, since: Date.now() }
    if (this.port > 0) this.deps.ports.release(this.port)
    this.exitCtl.abort(new HerdError('upstream_error', `llama-server instance ${this.id} exited (${describe(info)})`))
    this.resolveClosed(info)
    this.onExit?.(this)
  }

  /** Tell the hardware hooks a process started (no `info`) or exited. */
  private hook(pid: number, info?: ExitInfo): void {
    const base: ProcessInfo = { instanceId: this.id, profileId: this.profile.id, launchHash: this.profile.launchHash, pid }
    try {
      if (info === undefined) this.deps.onProcessStarted?.(base)
      else this.deps.onProcessExited?.({ ...base, ...info, expected: this.expectedExit })
    } catch (err: unknown) {
      this.deps.logger.warn({ err, instance: this.id }, 'process hook threw')
    }
  }
}

function describe(info: ExitInfo): string {
  return info.signal !== null ? `signal ${info.signal}` : `code ${String(info.code)}`
}
