/** What is checked before a process is spawned: the model file, the memory fit, the binary. */
import { stat } from 'node:fs/promises'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError, isHerdError } from '../errors/index.ts'

/** The hardware component's admission check; throws HerdError 'no_capacity' when it does not fit. */
export type Fit = (profile: ProfileSpec, options: { signal: AbortSignal }) => Promise<void>

export async function prepareSpawn(profile: ProfileSpec, o: { signal: AbortSignal; fit: Fit | undefined; binary: () => Promise<string> }): Promise<string> {
  if (profile.modelPath !== undefined) {
    const isFile = await stat(profile.modelPath).then(
      (s) => s.isFile(),
      () => false,
    )
    if (!isFile) throw new HerdError('model_file_missing', `model file for '${profile.id}' not found: ${profile.modelPath}`)
  }
  await o.fit?.(profile, { signal: o.signal })
  o.signal.throwIfAborted()
  try {
    return await o.binary()
  } catch (err: unknown) {
    if (isHerdError(err)) throw err
    throw new HerdError('spawn_failed', `no llama-server binary for '${profile.id}': ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
