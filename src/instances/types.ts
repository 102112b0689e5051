/**
 * The supervisor's public contract. The router only ever asks for a lease on a ready
 * llama-server slot, and gives it back when the response is done.
 */

/** One slot on a ready llama-server, held for the duration of one request. */
export interface Lease {
  readonly instanceId: string
  /** e.g. `http://127.0.0.1:41234` */
  readonly baseUrl: string
  /** Aborted the moment the instance process exits (crash, kill): in-flight proxies stop at once. */
  readonly exited: AbortSignal
  /** Give the slot back. Idempotent. Pass the number of generated tokens and the generation time when known (learned rate). */
  release(stats?: { tokens?: number; ms?: number }): void
}

export type InstanceStatus =
  | { status: 'starting'; since: number }
  | { status: 'ready'; port: number; slots: number; nCtx: number | null; since: number }
  | { status: 'stopping'; since: number }
  | { status: 'exited'; code: number | null; signal: string | null; since: number }

export interface InstanceSnapshot {
  readonly id: string
  readonly profileId: string
  readonly pid: number | undefined
  readonly port: number
  readonly state: InstanceStatus
  readonly busy: number
  readonly lastUsedAt: number
  readonly startedAt: number
  /** GPU indexes the hardware planner placed it on (empty: CPU or unplaced). */
  readonly gpus: readonly number[]
}

/** Per `model:profile` load, as gossip, /metrics and `herd ps` show it. */
export interface ProfileLoad {
  readonly profileId: string
  /** Instances starting or ready. */
  readonly instances: number
  readonly readyInstances: number
  readonly slotsTotal: number
  readonly slotsBusy: number
  readonly queueLength: number
  /** Learned generation rate (tokens/s), null until measured. */
  readonly tokensPerSecond: number | null
}

export interface AcquireOptions {
  signal: AbortSignal
  requestId?: string
  /** Epoch ms: wait in line no later than this (a mesh-wide bound set by the first node), nor longer than max_wait_in_queue_ms. */
  deadline?: number
  /** Called once if the request has to wait in line; the thunk says, when read, what it waits on now. */
  onWaiting?: (state: () => QueueWait) => void
}

/** What a waiting request waits on: a starting instance, its turn in line (`ahead` before it), or nothing any more (served). */
export type QueueWait = { kind: 'loading' } | { kind: 'queued'; ahead: number } | { kind: 'waiting' }

export interface InstanceEvents {
  'instance:ready': { instanceId: string; profileId: string; spawnMs: number }
  'instance:exited': { instanceId: string; profileId: string; code: number | null; signal: string | null; expected: boolean }
  /** Anything that changes load (slot taken/freed, queue, spawn, exit): gossip pushes on it. */
  'load:changed': { profileId: string }
}
