/**
 * What a llama-server log at `-lv 4` says about memory, per buffer type, and which CPU
 * features its build has: the figures the estimate is compared with, like with like.
 */
import { spawn } from 'node:child_process'
import type { CpuFeatures, WeightBuffer } from '../../src/hardware/index.ts'
import { freePort } from '../helpers/llama-server.ts'

export interface LoggedMemory {
  /** `load_tensors: NAME model buffer size = X MiB`, summed per NAME (CPU_Mapped, AMX, CPU_REPACK, CUDA0, …). */
  model: Map<string, number>
  /** `KV buffer size` over all devices (MiB). */
  kv: number
  /** `compute buffer size` over all devices (MiB). */
  compute: number
  /** system_info's `CPU : NAME = VALUE |` pairs: what the build was compiled with. */
  cpu: Map<string, string>
}

const MIB = 1024 * 1024

/** Reads the buffer lines and the system_info line. */
export function parseLlamaLog(log: string): LoggedMemory {
  const sum = (re: RegExp): number => [...log.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0)
  const model = new Map<string, number>()
  for (const m of log.matchAll(/(\S+) model buffer size\s*=\s*([\d.]+) MiB/g)) {
    const name = m[1] ?? ''
    model.set(name, (model.get(name) ?? 0) + Number(m[2]))
  }
  const cpu = new Map<string, string>()
  const info = /system_info:.*?\bCPU : (.*)$/m.exec(log)?.[1] ?? ''
  for (const m of info.matchAll(/(\w+) = (\w+)/g)) cpu.set(m[1] ?? '', m[2] ?? '')
  return { model, kv: sum(/\bKV buffer size\s*=\s*([\d.]+) MiB/g), compute: sum(/\bcompute buffer size\s*=\s*([\d.]+) MiB/g), cpu }
}

/** The features the build reports, in herd's terms (extra buffers need REPACK=1, AMX also AMX_INT8=1). */
export function buildCpuFeatures(cpu: ReadonlyMap<string, string>): CpuFeatures {
  const on = (k: string): boolean => cpu.get(k) === '1'
  const repack = on('REPACK')
  return { amx: on('AMX_INT8'), avx2: repack && on('AVX2'), avx512: repack && on('AVX512'), armDotprod: repack && (on('DOTPROD') || on('MATMUL_INT8')) }
}

export interface BufferPair {
  name: string
  /** MiB; 0 when that side has no such buffer. */
  estimate: number
  real: number
}

/** Each host weight buffer the estimate or the log names, with both sides' sizes. */
export function weightBufferPairs(estimate: readonly WeightBuffer[], logged: ReadonlyMap<string, number>): BufferPair[] {
  const names = [...new Set([...estimate.map((b) => b.name), ...logged.keys()])].sort()
  return names.map((name) => ({
    name,
    estimate: estimate.filter((b) => b.name === name).reduce((a, b) => a + b.bytes, 0) / MIB,
    real: logged.get(name) ?? 0,
  }))
}

/**
 * Starts llama-server with `args` and returns what it printed up to its compute buffer line,
 * then stops it: the memory figures, without waiting for it to serve. Also returns when it
 * ends first, with the signal that ended it: on some VMs that list AMX the tile
 * instructions fault, and llama-server's test decode at load crashes through AMX-quantized
 * weights, after the weight lines but possibly before the later lines reached the pipe (its
 * logger writes from a thread). Rejects with the output when the deadline passes.
 */
export async function loadLog(binary: string, args: readonly string[], timeoutMs = 20_000): Promise<{ log: string; signal: string | null }> {
  const child = spawn(binary, ['--host', '127.0.0.1', '--port', String(await freePort()), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no compute buffer line in ${timeoutMs} ms:\n${output}`)), timeoutMs)
      const on = (c: Buffer): void => {
        output += c.toString()
        // The whole line, so the figure is not cut in two.
        if (/compute buffer size[^\n]*\n/.test(output)) resolve()
      }
      child.stdout.on('data', on)
      child.stderr.on('data', on)
      void exited.then(() => resolve())
      void exited.finally(() => clearTimeout(timer))
    })
    return { log: output, signal: child.signalCode }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }
  }
}
