/**
 * The llama-server arguments that decide memory, read out of a profile's tokenized args.
 * Spellings follow common/arg.cpp: short and long forms, `--opt=value`, and the flags that
 * take an optional `on|off|auto` value.
 */
import type { EstimateOptions } from './estimate.ts'

export interface LaunchArgs extends EstimateOptions {
  /** `-ts 3,1`: proportions per device. */
  tensorSplit: number[] | undefined
  /** `-sm none|layer|row|tensor`. */
  splitMode: string | undefined
  /** `-mg N`. */
  mainGpu: number | undefined
  /** `-dev CUDA0,CUDA1`. */
  devices: string[] | undefined
  /** `-m FILE` inside the args (profiles usually give model_path instead). */
  model: string | undefined
  /** `--no-host`: host weights skip the GPU host buffer, so the CPU's extra buffers can take them. */
  noHost: boolean
}

const VALUE_OPTS: Readonly<Record<string, string>> = {
  '-c': 'ctx',
  '--ctx-size': 'ctx',
  '-np': 'parallel',
  '--parallel': 'parallel',
  '-ctk': 'cacheTypeK',
  '--cache-type-k': 'cacheTypeK',
  '-ctv': 'cacheTypeV',
  '--cache-type-v': 'cacheTypeV',
  '-ngl': 'nGpuLayers',
  '--gpu-layers': 'nGpuLayers',
  '--n-gpu-layers': 'nGpuLayers',
  '-b': 'batch',
  '--batch-size': 'batch',
  '-ub': 'ubatch',
  '--ubatch-size': 'ubatch',
  '-ts': 'tensorSplit',
  '--tensor-split': 'tensorSplit',
  '-sm': 'splitMode',
  '--split-mode': 'splitMode',
  '-mg': 'mainGpu',
  '--main-gpu': 'mainGpu',
  '-dev': 'devices',
  '--device': 'devices',
  '-m': 'model',
  '--model': 'model',
  '--pooling': 'pooling',
  '-lm': 'loadMode',
  '--load-mode': 'loadMode',
}

/** Reads the memory-relevant options out of llama-server args; everything else is ignored. */
export function parseLaunchArgs(args: readonly string[]): LaunchArgs {
  const out: LaunchArgs = { tensorSplit: undefined, splitMode: undefined, mainGpu: undefined, devices: undefined, model: undefined, noHost: false }
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] ?? ''
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1
    const flag = eq > 0 ? raw.slice(0, eq) : raw
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined
    const field = VALUE_OPTS[flag]
    if (field) {
      const value = inline ?? args[++i]
      if (value === undefined) throw new Error(`llama-server option ${flag} needs a value`)
      apply(out, field, flag, value)
      continue
    }
    switch (flag) {
      case '--embedding':
      case '--embeddings':
      case '--rerank':
      case '--reranking':
        out.embedding = true
        break
      case '-kvu':
      case '--kv-unified':
        out.kvUnified = true
        break
      case '-no-kvu':
      case '--no-kv-unified':
        out.kvUnified = false
        break
      case '-nkvo':
      case '--no-kv-offload':
        out.kvOffload = false
        break
      // Repacking covers every extra buffer type (common.cpp: use_extra_bufts = !no_extra_bufts).
      case '-nr':
      case '--no-repack':
        out.repack = false
        break
      case '--repack':
        out.repack = true
        break
      case '--no-host':
        out.noHost = true
        break
      // Older builds' spelling of `--load-mode none`.
      case '--no-mmap':
        out.mmap = false
        break
      case '-fa':
      case '--flash-attn': {
        // The value is optional in older builds; take it only when it is one of the words.
        const next = inline ?? args[i + 1]
        if (next === 'on' || next === 'off' || next === 'auto') {
          out.flashAttn = next
          if (inline === undefined) i++
        } else {
          out.flashAttn = 'on'
        }
        break
      }
    }
  }
  return out
}

function apply(out: LaunchArgs, field: string, flag: string, value: string): void {
  const int = (): number => {
    const n = Number(value)
    if (!Number.isInteger(n)) throw new Error(`llama-server option ${flag} expects an integer, got "${value}"`)
    return n
  }
  switch (field) {
    case 'ctx':
      out.ctx = int()
      break
    case 'parallel':
      out.parallel = int()
      break
    case 'cacheTypeK':
      out.cacheTypeK = value
      break
    case 'cacheTypeV':
      out.cacheTypeV = value
      break
    // `auto` and `all` both end at every layer unless fitting trims them; plan for all.
    case 'nGpuLayers':
      out.nGpuLayers = value === 'auto' || value === 'all' ? -1 : int()
      break
    case 'batch':
      out.batch = int()
      break
    case 'ubatch':
      out.ubatch = int()
      break
    case 'tensorSplit':
      out.tensorSplit = value.split(/[,/]/).map((x) => Number(x) || 0)
      break
    case 'splitMode':
      out.splitMode = value
      break
    case 'mainGpu':
      out.mainGpu = int()
      break
    case 'devices':
      out.devices = value
        .split(',')
        .map((d) => d.trim())
        .filter((d) => d !== '')
      break
    case 'model':
      out.model = value
      break
    // A pooling other than none means an embedding model: no logits, all tokens in one ubatch.
    case 'pooling':
      if (value !== 'none') out.embedding = true
      break
    // Only these map the file (llama-model-loader.cpp); none, mlock and dio read it into buffers.
    case 'loadMode':
      out.mmap = value === 'auto' || value === 'mmap' || value === 'mmap+mlock'
      break
  }
}

/** Just the estimate options (drops placement fields). */
export function estimateOptionsOf(l: LaunchArgs): EstimateOptions {
  const { tensorSplit: _ts, splitMode: _sm, mainGpu: _mg, devices: _dev, model: _m, noHost: _nh, ...rest } = l
  return rest
}
