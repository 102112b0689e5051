/**
 * llama.cpp's own projection of a launch: `llama-fit-params --fit-print on` builds the
 * model and context with allocation switched off (it reads the GGUF header, never the
 * weights) and prints, per device and for the host, `NAME model context compute` in MiB
 * (tools/fit-params, common/fit.cpp `common_fit_print`). It knows the real graph, split
 * and offload rules, so it beats herd's own estimate; it is rounded down to whole MiB.
 *
 * Two gaps, both covered here: fit-params rejects llama-server-only options (so only the
 * memory-relevant ones that every example accepts are passed on), and its default is one
 * sequence where llama-server's is four (so `-np 4` is added when the launch gives none).
 * It sizes logits for a full batch where the server reserves one row per slot, so for
 * large vocabularies its compute figure runs high: an over-estimate, never an under-one.
 * And its Host row sums host buffer types only: the CPU backend's extra ones (AMX,
 * CPU_REPACK; their `is_host` is false and their device, the CPU, is not a model device)
 * are dropped, so on a CPU that repacks, the repacked weights are missing from it (they
 * show only in its `--log-jsonl` breakdown). herd fills that from its estimate
 * (requirement.ts).
 */
import { execFile } from 'node:child_process'

export interface FitParamsMemory {
  name: string
  modelMb: number
  contextMb: number
  computeMb: number
  totalMb: number
}

export interface FitParamsResult {
  devices: FitParamsMemory[]
  host: FitParamsMemory
  /** Sum over all devices (MiB). */
  deviceMb: number
  hostMb: number
}

/** Options that take a value and that fit-params accepts (common/arg.cpp, all examples). */
const PASS_WITH_VALUE = new Set([
  '-m',
  '--model',
  '-c',
  '--ctx-size',
  '-np',
  '--parallel',
  '-b',
  '--batch-size',
  '-ub',
  '--ubatch-size',
  '-ctk',
  '--cache-type-k',
  '-ctv',
  '--cache-type-v',
  '-ngl',
  '--gpu-layers',
  '--n-gpu-layers',
  '-ts',
  '--tensor-split',
  '-sm',
  '--split-mode',
  '-mg',
  '--main-gpu',
  '-dev',
  '--device',
  '-ot',
  '--override-tensor',
  '-ncmoe',
  '--n-cpu-moe',
  '-fitt',
  '--fit-target',
])
// Repacking and the host buffer decide whether host weights go to an extra buffer type, which
// is left out of the Host row: with `-nr` they stay in the CPU buffer, which is counted.
const PASS_FLAG = new Set(['-nkvo', '--no-kv-offload', '--swa-full', '-cmoe', '--cpu-moe', '-nr', '--no-repack', '--repack', '--no-host'])
const FA_VALUES = new Set(['on', 'off', 'auto'])

/** The fit-params command line for a llama-server launch (its args, with `-m`). */
export function fitParamsArgs(serverArgs: readonly string[]): string[] {
  const out: string[] = []
  let parallel = false
  for (let i = 0; i < serverArgs.length; i++) {
    const raw = serverArgs[i] ?? ''
    const flag = raw.startsWith('--') && raw.includes('=') ? raw.slice(0, raw.indexOf('=')) : raw
    if (flag === '-np' || flag === '--parallel') parallel = true
    if (PASS_WITH_VALUE.has(flag)) {
      if (flag === raw) {
        const value = serverArgs[++i]
        if (value !== undefined) out.push(raw, value)
      } else {
        out.push(raw)
      }
    } else if (PASS_FLAG.has(flag)) {
      out.push(raw)
    } else if (flag === '-fa' || flag === '--flash-attn') {
      const next = serverArgs[i + 1]
      if (flag !== raw) {
        out.push(raw)
      } else if (next !== undefined && FA_VALUES.has(next)) {
        out.push(raw, next)
        i++
      } else {
        out.push(raw, 'on')
      }
    }
  }
  if (!parallel) out.push('-np', '4')
  out.push('--fit-print', 'on')
  return out
}

/** Parses fit-params' `--fit-print` stdout. Throws when there is no Host line. */
export function parseFitPrint(stdout: string): FitParamsResult {
  const rows: FitParamsMemory[] = []
  for (const line of stdout.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line.trim())
    if (!m) continue
    const [modelMb, contextMb, computeMb] = [Number(m[2]), Number(m[3]), Number(m[4])]
    rows.push({ name: m[1] ?? '', modelMb, contextMb, computeMb, totalMb: modelMb + contextMb + computeMb })
  }
  const host = rows.find((r) => r.name === 'Host')
  if (!host) throw new Error(`llama-fit-params printed no memory projection: ${JSON.stringify(stdout.slice(0, 200))}`)
  const devices = rows.filter((r) => r !== host)
  return { devices, host, deviceMb: devices.reduce((a, d) => a + d.totalMb, 0), hostMb: host.totalMb }
}

/**
 * Runs `llama-fit-params` for these llama-server args (which must name the model with `-m`)
 * and returns its projection. Rejects with the tool's last output lines when it fails
 * (a missing model, an option combination llama.cpp refuses).
 */
export async function fitParams(
  binaryPath: string,
  args: readonly string[],
  options: { signal?: AbortSignal; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<FitParamsResult> {
  options.signal?.throwIfAborted()
  const argv = fitParamsArgs(args)
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      binaryPath,
      argv,
      {
        signal: options.signal,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 4 << 20,
        env: options.env,
      },
      (err, out, errOut) => {
        if (err) {
          if (options.signal?.aborted) return reject(options.signal.reason)
          const tail = String(errOut).trim().split('\n').slice(-5).join('\n')
          return reject(new Error(`llama-fit-params failed (${err.message.split('\n')[0]}): ${tail}`, { cause: err }))
        }
        resolve(String(out))
      },
    )
  })
  return parseFitPrint(stdout)
}
