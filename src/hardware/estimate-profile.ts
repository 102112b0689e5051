/**
 * The estimate for a cookbook profile: its GGUF file read for facts, its llama-server args
 * read for context, slots, cache types and offload.
 */
import { stat } from 'node:fs/promises'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError } from '../errors/index.ts'
import { estimateMemory, type MemoryEstimate } from './estimate.ts'
import { readGgufInfo, type GgufInfo } from './gguf-info.ts'
import { estimateOptionsOf, parseLaunchArgs, type LaunchArgs } from './launch-args.ts'

export interface ProfileEstimate {
  readonly info: GgufInfo
  readonly launch: LaunchArgs
  readonly estimate: MemoryEstimate
}

/**
 * Remembers parsed GGUF headers by path, size and mtime, so planning a cold start does not
 * re-read a header that has not changed. Owned by whoever plans (one per daemon).
 */
export class GgufInfoCache {
  private readonly entries = new Map<string, { key: string; info: GgufInfo }>()

  async get(path: string, options: { signal?: AbortSignal } = {}): Promise<GgufInfo> {
    const s = await stat(path)
    const key = `${s.size}:${s.mtimeMs}`
    const hit = this.entries.get(path)
    if (hit?.key === key) return hit.info
    const info = await readGgufInfo(path, options)
    this.entries.set(path, { key, info })
    return info
  }
}

/**
 * Estimates what launching this profile will allocate. Undefined when the profile names no
 * local file (a `-hf` download): there is nothing to read until llama-server fetched it.
 * Throws HerdError `model_file_missing` when the named file is not there.
 */
export async function estimateProfile(
  profile: ProfileSpec,
  options: { signal?: AbortSignal; cache?: GgufInfoCache } = {},
): Promise<ProfileEstimate | undefined> {
  const launch = parseLaunchArgs(profile.args)
  const path = profile.modelPath ?? launch.model
  if (path === undefined) return undefined
  let info: GgufInfo
  try {
    info = options.cache ? await options.cache.get(path, options) : await readGgufInfo(path, options)
  } catch (err: unknown) {
    if (isEnoent(err)) throw new HerdError('model_file_missing', `model file for ${profile.id} not found: ${path}`, { cause: err })
    throw err
  }
  return { info, launch, estimate: estimateMemory(info, estimateOptionsOf(launch)) }
}

function isEnoent(err: unknown): boolean {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return true
  const cause = (err as { cause?: unknown } | undefined)?.cause
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}
