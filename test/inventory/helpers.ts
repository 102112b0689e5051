/** Tiny GGUF trees for the inventory tests: plain files, split models, projectors and broken files. */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { encodeTinyGguf, tinyGgufParams, tinyGgufTensors, writeTinyGguf, type TinyGgufOptions } from '../fixtures/tiny-gguf.ts'

export { writeTinyGguf }

/**
 * A tiny model split over `count` files named `<stem>-0000i-of-0000n.gguf` in `dir`, the
 * tensors dealt out over the parts (each part a valid GGUF). Returns the paths, first part first.
 */
export async function writeSplitGguf(dir: string, stem: string, count: number, opts: TinyGgufOptions = {}): Promise<string[]> {
  const params = tinyGgufParams(opts)
  const tensors = tinyGgufTensors(params)
  const per = Math.ceil(tensors.length / count)
  const paths: string[] = []
  await mkdir(dir, { recursive: true })
  for (let i = 0; i < count; i++) {
    const path = `${dir}/${stem}-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`
    await writeFile(path, encodeTinyGguf(params, tensors.slice(i * per, (i + 1) * per)))
    paths.push(path)
  }
  return paths
}

/** The first `bytes` of a tiny model: a download cut short. */
export async function writeTruncatedGguf(path: string, bytes = 100): Promise<void> {
  const data = encodeTinyGguf(tinyGgufParams(), tinyGgufTensors(tinyGgufParams()))
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, data.subarray(0, bytes))
}

/** The parameters the tiny model has in all (for checking split models sum their parts). */
export function tinyParameterCount(opts: TinyGgufOptions = {}): number {
  return tinyGgufTensors(tinyGgufParams(opts)).reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0)
}

/** A budget with room for anything (a CPU node with 64 GiB). */
export const BIG_CPU = { gpu: false, vramMb: null, sysmemMb: 64 * 1024 } as const
