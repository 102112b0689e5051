/** Walking model_dirs and turning files into models: nested folders, split files, projectors, links, names. */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readGgufFile, readGgufInfo, ggufInfo } from '../../src/hardware/index.ts'
import { assignNames, groupFiles, sanitizeModelName, scanModelDirs, type ReadGguf } from '../../src/inventory/index.ts'
import { tinyParameterCount, writeSplitGguf, writeTinyGguf } from './helpers.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-scan-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

async function readAll(paths: readonly string[]): Promise<ReadGguf[]> {
  const scan = await scanModelDirs([dir])
  const out: ReadGguf[] = []
  for (const file of scan.files.filter((f) => paths.includes(f.path))) {
    const gguf = await readGgufFile(file.path)
    out.push({ file, gguf, info: ggufInfo(file.path, gguf) })
  }
  return out
}

describe('scanModelDirs', () => {
  it('finds .gguf files in nested folders, skips dot folders and other files, and follows links without looping', async () => {
    const a = (await writeTinyGguf(join(dir, 'a.gguf'))).path
    const deep = (await writeTinyGguf(join(dir, 'x/y/z/deep.GGUF'))).path
    await writeTinyGguf(join(dir, '.cache/hidden.gguf'))
    await writeFile(join(dir, 'x/readme.txt'), 'not a model')
    await symlink(dir, join(dir, 'x/loop'))
    await symlink(a, join(dir, 'x/a-link.gguf'))
    await symlink(join(dir, 'gone.gguf'), join(dir, 'dangling.gguf'))
    const scan = await scanModelDirs([dir, join(dir, 'missing')])
    // The link to a.gguf is the same file (same inode): listed once.
    expect(scan.files.map((f) => f.path)).toEqual([a, deep])
    expect(scan.missingRoots).toEqual([join(dir, 'missing')])
    expect(scan.problems).toEqual([])
  })

  it('stops at the depth and file limits and says so', async () => {
    await writeTinyGguf(join(dir, '1/2/3/too-deep.gguf'))
    for (let i = 0; i < 3; i++) await writeTinyGguf(join(dir, `m${i}.gguf`))
    expect((await scanModelDirs([dir], { maxDepth: 2 })).files.map((f) => f.name)).toEqual(['m0.gguf', 'm1.gguf', 'm2.gguf'])
    const capped = await scanModelDirs([dir], { maxFiles: 2 })
    expect(capped.files).toHaveLength(2)
    expect(capped.problems[0]?.message).toMatch(/more than 2 GGUF files/)
  })
})

describe('groupFiles', () => {
  it('makes one model of a complete split set (first part, every tensor counted) and skips an incomplete one', async () => {
    const parts = await writeSplitGguf(join(dir, 'big'), 'big-model', 3)
    const broken = await writeSplitGguf(join(dir, 'half'), 'half', 3)
    await rm(broken[1] as string)
    const { groups, problems } = groupFiles(await readAll([...parts, ...broken]))
    expect(groups).toHaveLength(1)
    expect(groups[0]?.first.file.path).toBe(parts[0])
    expect(groups[0]?.parts).toHaveLength(3)
    expect(groups[0]?.info.parameterCount).toBe(tinyParameterCount())
    expect(problems).toEqual([{ path: broken[0], message: 'split model incomplete: parts 1, 3 of 3 found' }])
  })

  it('attaches the only projector of a folder to every model there, and with several the one whose name matches', async () => {
    const one = [
      (await writeTinyGguf(join(dir, 'vl/model-q4.gguf'))).path,
      (await writeTinyGguf(join(dir, 'vl/model-q8.gguf'))).path,
      (await writeTinyGguf(join(dir, 'vl/mmproj-model-f16.gguf'))).path,
    ]
    const two = [
      (await writeTinyGguf(join(dir, 'two/alpha-q4.gguf'))).path,
      (await writeTinyGguf(join(dir, 'two/beta-q4.gguf'))).path,
      (await writeTinyGguf(join(dir, 'two/mmproj-alpha.gguf'))).path,
      (await writeTinyGguf(join(dir, 'two/beta-mmproj-f16.gguf'))).path,
      (await writeTinyGguf(join(dir, 'other/lonely.gguf'))).path,
    ]
    const { groups } = groupFiles(await readAll([...one, ...two]))
    const proj = Object.fromEntries(groups.map((g) => [g.first.file.name, g.projector?.file.name ?? null]))
    expect(proj).toEqual({
      'model-q4.gguf': 'mmproj-model-f16.gguf',
      'model-q8.gguf': 'mmproj-model-f16.gguf',
      'alpha-q4.gguf': 'mmproj-alpha.gguf',
      'beta-q4.gguf': 'beta-mmproj-f16.gguf',
      'lonely.gguf': null,
    })
  })
})

describe('names', () => {
  it('sanitises general.name into a model name', () => {
    expect(sanitizeModelName('Llama 3.2 1B Instruct')).toBe('llama-3.2-1b-instruct')
    expect(sanitizeModelName('  Qwen/Qwen2.5:7B @home ')).toBe('qwen-qwen2.5-7b-home')
    expect(sanitizeModelName('***')).toBeUndefined()
    expect(sanitizeModelName('x'.repeat(300))).toHaveLength(96)
  })

  it('gives a shared general.name to none of its files, and numbers a file name found twice', () => {
    const names = assignNames([
      { path: '/m/a/llama-q4.gguf', fileName: 'llama-q4.gguf', metadataName: 'Llama' },
      { path: '/m/b/llama-q8.gguf', fileName: 'llama-q8.gguf', metadataName: 'Llama' },
      { path: '/m/c/unique.gguf', fileName: 'unique.gguf', metadataName: 'Only One' },
      { path: '/m/d/x-00001-of-00002.gguf', fileName: 'x-00001-of-00002.gguf', metadataName: undefined },
      { path: '/m/e/x.gguf', fileName: 'x.gguf', metadataName: undefined },
    ])
    expect([...names.values()]).toEqual(['only-one', 'llama-q4', 'llama-q8', 'x', 'x-2'])
  })
})

describe('readGgufInfo of a split model', () => {
  it('covers every part, as the planner estimates it, and fails when a part is missing', async () => {
    const parts = await writeSplitGguf(join(dir, 'split'), 'm', 3)
    const info = await readGgufInfo(parts[0] as string)
    expect(info.parameterCount).toBe(tinyParameterCount())
    const single = await writeTinyGguf(join(dir, 'single.gguf'))
    expect(info.tensorBytes).toBe((await readGgufInfo(single.path)).tensorBytes)
    await rm(parts[2] as string)
    await expect(readGgufInfo(parts[0] as string)).rejects.toThrow(/00003-of-00003/)
  })
})
