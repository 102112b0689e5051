/**
 * The CPU features that decide where llama.cpp's CPU backend keeps weights: its "extra
 * buffer types" (AMX, CPU_REPACK) take some weights instead of the plain CPU buffer, as a
 * second, repacked copy (see weight-buffers.ts). Read from /proc/cpuinfo.
 *
 * ggml checks these at compile time (`__AMX_INT8__`, `__AVX2__`, …: ggml-cpu.c), so what
 * matters is the build, not the CPU. herd builds llama.cpp on the node with GGML_NATIVE
 * (the default), so the build has what the CPU has; a build made for another CPU, or one
 * with GGML_NATIVE=OFF, may differ (then `HardwareInit.cpuFeatures` can say what it has).
 */
import { readFile } from 'node:fs/promises'

export interface CpuFeatures {
  /** Intel AMX with AVX512-VNNI: the `AMX` buffer (amx/amx.cpp) for F16 and most 4/5/6/8-bit types. */
  amx: boolean
  /** x86 AVX2: `CPU_REPACK` of Q4_0, Q4_K, IQ4_NL, MXFP4. */
  avx2: boolean
  /** x86 AVX512F: `CPU_REPACK` of Q2_K as well. */
  avx512: boolean
  /** ARM dot product or int8 matrix multiply: `CPU_REPACK` of Q4_0, Q4_K, Q5_K, Q6_K, Q8_0, IQ4_NL, MXFP4, Q1_0. */
  armDotprod: boolean
}

/** A CPU (or a build) with none of them: every weight in the plain CPU buffer. */
export const NO_CPU_FEATURES: CpuFeatures = Object.freeze({ amx: false, avx2: false, avx512: false, armDotprod: false })

/** The flags of the first processor in /proc/cpuinfo text: `flags` on x86, `Features` on ARM. */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  const m = /^(?:flags|Features)\s*:(.*)$/m.exec(cpuinfo)
  return new Set(
    (m?.[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter((f) => f !== ''),
  )
}

/** The features from kernel flag names (`amx_int8`, `avx2`, `asimddp`, …). */
export function cpuFeatures(flags: ReadonlySet<string>): CpuFeatures {
  return {
    // amx_tile is what the kernel lets a process enable (arch_prctl XTILEDATA, which ggml requests).
    amx: flags.has('amx_int8') && flags.has('amx_tile') && flags.has('avx512_vnni'),
    avx2: flags.has('avx2'),
    avx512: flags.has('avx512f'),
    armDotprod: flags.has('asimddp') || flags.has('i8mm'),
  }
}

/** This machine's features; undefined where /proc/cpuinfo is not there (not Linux). */
export async function readCpuFeatures(procRoot = '/proc'): Promise<CpuFeatures | undefined> {
  try {
    return cpuFeatures(parseCpuFlags(await readFile(`${procRoot}/cpuinfo`, 'utf8')))
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined
    throw err
  }
}

/** For logs and test names: `AMX AVX512 AVX2`, or `none`. */
export function describeCpuFeatures(f: CpuFeatures): string {
  const names = [f.amx && 'AMX', f.avx512 && 'AVX512', f.avx2 && 'AVX2', f.armDotprod && 'ARM_DOTPROD'].filter((n): n is string => typeof n === 'string')
  return names.length > 0 ? names.join(' ') : 'none'
}
