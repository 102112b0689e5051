import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cpuFeatures, describeCpuFeatures, NO_CPU_FEATURES, parseCpuFlags, readCpuFeatures } from '../../src/hardware/index.ts'

// Trimmed /proc/cpuinfo of three kinds of machine.
const SAPPHIRE_RAPIDS = `processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512dq avx512bw avx512vl avx_vnni avx512_bf16 avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu
`
const ZEN3 = `processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
`
const GRAVITON3 = `processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop sha3 asimddp sha512 sve asimdfhm i8mm bf16
CPU implementer\t: 0x41
`

describe('CPU features', () => {
  it('reads AMX, AVX512 and AVX2 from an x86 flags line (the first processor)', () => {
    expect(cpuFeatures(parseCpuFlags(SAPPHIRE_RAPIDS))).toEqual({ amx: true, avx2: true, avx512: true, armDotprod: false })
    expect(describeCpuFeatures(cpuFeatures(parseCpuFlags(SAPPHIRE_RAPIDS)))).toBe('AMX AVX512 AVX2')
  })

  it('has no AMX without the tile and VNNI flags ggml builds it with', () => {
    expect(cpuFeatures(new Set(['amx_int8', 'avx512f'])).amx).toBe(false)
    expect(cpuFeatures(new Set(['amx_int8', 'amx_tile', 'avx512_vnni'])).amx).toBe(true)
  })

  it('reads AVX2 alone from a CPU without AVX512 or AMX', () => {
    expect(cpuFeatures(parseCpuFlags(ZEN3))).toEqual({ amx: false, avx2: true, avx512: false, armDotprod: false })
  })

  it('reads the dot-product extensions from an ARM Features line', () => {
    expect(cpuFeatures(parseCpuFlags(GRAVITON3))).toEqual({ amx: false, avx2: false, avx512: false, armDotprod: true })
  })

  it('has nothing for text without flags', () => {
    expect(cpuFeatures(parseCpuFlags(''))).toEqual(NO_CPU_FEATURES)
    expect(describeCpuFeatures(NO_CPU_FEATURES)).toBe('none')
  })

  it('reads cpuinfo under a /proc root, and says nothing where there is none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herd-cpu-'))
    try {
      expect(await readCpuFeatures(dir)).toBeUndefined()
      await writeFile(join(dir, 'cpuinfo'), ZEN3)
      expect(await readCpuFeatures(dir)).toMatchObject({ avx2: true, amx: false })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
