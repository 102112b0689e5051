/**
 * The estimate for a cookbook profile: its GGUF file read for facts, its llama-server args
 * read for context, slots, cache types and offload, and the node for what its build does
 * with host weights.
 */
import { stat } from 'node:fs/promises'
import type { ProfileSpec } from '../config/types.ts'
import { HerdError } from '../errors/index.ts'
import type { CpuFeatures } from './cpu-features.ts'
import { estimateMemory, type EstimateOptions, type MemoryEstimate } from './estimate.ts'
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

export interface EstimateProfileOptions {
  signal?: AbortSignal
  cache?: GgufInfoCache
  /**
   * Whether the node has GPUs (so its llama-server is a GPU build). @default true
   * Without: every layer stays on the host, whatever `-ngl` says.
   */
  gpu?: boolean
  /** The node's CPU: its extra buffers (AMX, CPU_REPACK) count on a CPU-only node or with `--no-host`. */
  cpu?: CpuFeatures
}

/**
 * Estimates what launching this profile will allocate. Undefined when the profile names no
 * local file (a `-hf` download): there is nothing to read until llama-server fetched it.
 * Throws HerdError `model_file_missing` when the named file is not there.
 */
export async function estimateProfile(profile: ProfileSpec, options: EstimateProfileOptions = {}): Promise<ProfileEstimate | undefined> {
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
  return { info, launch, estimate: estimateMemory(info, nodeEstimateOptions(launch, options)) }
}

/** The estimate options for this launch on a node with (or without) GPUs and this CPU. */
export function nodeEstimateOptions(launch: LaunchArgs, node: { gpu?: boolean; cpu?: CpuFeatures }): EstimateOptions {
  const o = estimateOptionsOf(launch)
  if (node.gpu === false) return { ...o, nGpuLayers: 0, cpu: node.cpu }
  // A GPU build keeps host weights in its pinned host buffer (mmap: the plain CPU one) unless told not to.
  return launch.noHost ? { ...o, cpu: node.cpu } : o
}

function isEnoent(err: unknown): boolean {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return true
  const cause = (err as { cause?: unknown } | undefined)?.cause
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}
