/**
 * `herd gguf FILE [--ctx N] [--parallel N] [--json]`: what a GGUF file is and what serving
 * it would take. Also takes `--cache-type-k/-v T`, `--ubatch N`, `--flash-attn on|off`,
 * `--embedding` to mirror the llama-server args a profile would use.
 */
import { estimateMemory, type EstimateOptions, type MemoryEstimate } from './estimate.ts'
import { readGgufInfo, type GgufInfo } from './gguf-info.ts'

const USAGE = 'usage: herd gguf FILE [--ctx N] [--parallel N] [--cache-type-k T] [--cache-type-v T] [--ubatch N] [--flash-attn on|off] [--embedding] [--json]\n'

interface Parsed {
  file: string
  json: boolean
  options: EstimateOptions
}

function parse(argv: readonly string[]): Parsed | string {
  let file: string | undefined
  let json = false
  const options: EstimateOptions = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? ''
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    const int = (): number => {
      const v = value()
      const n = Number(v)
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} expects a whole number, got "${v}"`)
      return n
    }
    switch (a) {
      case '--json':
        json = true
        break
      case '--ctx':
      case '-c':
        options.ctx = int()
        break
      case '--parallel':
      case '-np':
        options.parallel = int()
        break
      case '--cache-type-k':
      case '-ctk':
        options.cacheTypeK = value()
        break
      case '--cache-type-v':
      case '-ctv':
        options.cacheTypeV = value()
        break
      case '--ubatch':
      case '-ub':
        options.ubatch = int()
        break
      case '--flash-attn':
      case '-fa': {
        const v = value()
        if (v !== 'on' && v !== 'off' && v !== 'auto') throw new Error(`${a} expects on, off or auto`)
        options.flashAttn = v
        break
      }
      case '--embedding':
        options.embedding = true
        break
      case '--help':
      case '-h':
        return USAGE
      default:
        if (a.startsWith('-') || file !== undefined) throw new Error(`unexpected argument "${a}"`)
        file = a
    }
  }
  if (file === undefined) throw new Error('no GGUF file given')
  return { file, json, options }
}

/** Runs the command; returns the exit code. Errors go to `err` (default: `out`). */
export async function ggufCommand(argv: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream = out): Promise<number> {
  let parsed: Parsed | string
  try {
    parsed = parse(argv)
  } catch (e: unknown) {
    err.write(`herd gguf: ${(e as Error).message}\n${USAGE}`)
    return 2
  }
  if (typeof parsed === 'string') {
    out.write(parsed)
    return 0
  }
  try {
    const info = await readGgufInfo(parsed.file)
    const estimate = estimateMemory(info, parsed.options)
    out.write(parsed.json ? JSON.stringify(toJson(info, estimate), null, 2) + '\n' : toText(info, estimate))
    return 0
  } catch (e: unknown) {
    err.write(`herd gguf: ${(e as Error).message}\n`)
    return 1
  }
}

/** The `--json` document: the estimate at top level, metadata beside it. */
export function toJson(info: GgufInfo, e: MemoryEstimate): Record<string, unknown> {
  return {
    file: info.path,
    weights_bytes: e.weightsBytes,
    kv_bytes: e.kvBytes,
    compute_bytes: e.computeBytes,
    total_bytes: e.totalBytes,
    device_bytes: e.deviceBytes,
    host_bytes: e.hostBytes,
    options: { ctx: e.nCtx, ctx_per_slot: e.nCtxSeq, parallel: e.nParallel, kv_unified: e.kvUnified, ubatch: e.nUbatch, flash_attn: e.flashAttn },
    metadata: {
      gguf_version: info.version,
      architecture: info.architecture,
      name: info.name ?? null,
      parameter_count: info.parameterCount,
      file_type: info.fileType ?? null,
      file_type_name: info.fileTypeName ?? null,
      block_count: info.blockCount,
      embedding_length: info.embeddingLength,
      feed_forward_length: info.feedForwardLength ?? null,
      head_count: info.headCount,
      head_count_kv: info.headCountKv,
      key_length: info.keyLength ?? null,
      value_length: info.valueLength ?? null,
      context_length: info.contextLength,
      vocab_size: info.vocabSize,
      sliding_window: info.slidingWindow ?? null,
      expert_count: info.expertCount ?? null,
      tensor_count: info.tensorCount,
      tensor_bytes: info.tensorBytes,
      data_offset: info.dataOffset,
      file_size: info.fileSize,
    },
  }
}

function toText(info: GgufInfo, e: MemoryEstimate): string {
  const mib = (b: number): string => `${(b / 1048576).toFixed(2)} MiB`
  const list = (v: number | readonly number[]): string => (typeof v === 'number' ? String(v) : v.join(','))
  const rows: [string, string][] = [
    ['file', info.path],
    ['architecture', info.architecture],
    ['name', info.name ?? '-'],
    ['parameters', `${info.parameterCount.toLocaleString('en-US')} (${humanCount(info.parameterCount)})`],
    ['file type', info.fileTypeName ?? '-'],
    ['gguf version', String(info.version)],
    ['layers', String(info.blockCount)],
    ['embedding', String(info.embeddingLength)],
    ['heads / kv heads', `${list(info.headCount)} / ${list(info.headCountKv)}`],
    ['trained context', String(info.contextLength)],
    ['vocabulary', String(info.vocabSize)],
    ['tensors', `${info.tensorCount} (${mib(info.tensorBytes)})`],
    ['', ''],
    ['context', `${e.nCtx} (${e.nParallel} slot${e.nParallel === 1 ? '' : 's'}, ${e.nCtxSeq} per ${e.kvUnified ? 'shared cache' : 'slot'})`],
    ['weights', mib(e.weightsBytes)],
    ['kv cache', mib(e.kvBytes)],
    ['compute', `${mib(e.computeBytes)} (ubatch ${e.nUbatch}, flash attention ${e.flashAttn ? 'on' : 'off'})`],
    ['total', mib(e.totalBytes)],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => (k === '' ? '' : `${k.padEnd(width)}  ${v}`)).join('\n') + '\n'
}

function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`
  return `${(n / 1e3).toFixed(1)} K`
}
