/** What is checked before a process is spawned: the model file, the memory fit, the binary. */
import { stat } from 'node:fs/promises'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError, isHerdError } from '../errors/index.ts'

/** Where a launch goes: extra environment and args (e.g. `CUDA_VISIBLE_DEVICES`, `--tensor-split`), and the GPUs it uses. */
export interface SpawnPlacement {
  env?: Record<string, string>
  args?: readonly string[]
  gpus?: readonly number[]
  /** The memory the launch was admitted for (MiB), for the log line that announces it. */
  estimate?: { vramMb: number; sysmemMb: number }
}

export interface FitOptions {
  signal: AbortSignal
  /** The instance asking: what it is admitted for is held against it until it is loaded. */
  instanceId: string
  /** Epoch ms after which nobody waits for this spawn any more (its waiters' bounds). */
  deadline?: number
}

/**
 * The hardware component's admission check, run before every spawn: it may make room
 * (evict idle instances), and says where the launch goes. Throws HerdError 'no_capacity'
 * when it does not fit.
 */
export type Fit = (profile: ProfileSpec, options: FitOptions) => Promise<SpawnPlacement | void>

export interface Prepared {
  binary: string
  placement: SpawnPlacement
}

export async function prepareSpawn(profile: ProfileSpec, o: FitOptions & { fit: Fit | undefined; binary: () => Promise<string> }): Promise<Prepared> {
  if (profile.modelPath !== undefined) {
    const isFile = await stat(profile.modelPath).then(
      (s) => s.isFile(),
      () => false,
    )
    if (!isFile) throw new HerdError('model_file_missing', `model file for '${profile.id}' not found: ${profile.modelPath}`)
  }
  const placement =
    (await o.fit?.(profile, { signal: o.signal, instanceId: o.instanceId, ...(o.deadline === undefined ? {} : { deadline: o.deadline }) })) ?? {}
  o.signal.throwIfAborted()
  try {
    return { binary: await o.binary(), placement }
  } catch (err: unknown) {
    if (isHerdError(err)) throw err
    throw new HerdError('spawn_failed', `no llama-server binary for '${profile.id}': ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
