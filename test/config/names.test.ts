import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadCookbook, resolveModel, type Cookbook } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

const COOKBOOK = `
models:
  - name: withdefault
    aliases: [wd]
    profiles:
      - { id: fast, model_path: a.gguf }
      - { id: default, model_path: a.gguf, llama_server_args: -c 4096 }
  - name: single
    aliases: [solo, lone]
    profiles:
      - { id: only, model_path: s.gguf }
  - name: ambiguous
    aliases: [amb]
    profiles:
      - { id: fast, model_path: b.gguf }
      - { id: long, model_path: b.gguf, llama_server_args: -c 32768 }
  - name: onlyenabled
    profiles:
      - { id: off, enabled: false, model_path: c.gguf }
      - { id: on, model_path: c.gguf }
  - name: gone
    enabled: false
    aliases: [ghost]
    profiles:
      - { id: default, model_path: g.gguf }
`

describe('cookbook names', () => {
  let tmp: TempDir
  let cookbook: Cookbook
  beforeEach(async () => {
    tmp = await tempDir()
    cookbook = await loadCookbook(await tmp.write('c.yaml', COOKBOOK))
  })
  afterEach(() => tmp.remove())

  it('map a bare model name to its default profile', () => {
    expect(cookbook.names.get('withdefault')).toBe('withdefault:default')
  })

  it('map a bare model name to its only profile', () => {
    expect(cookbook.names.get('single')).toBe('single:only')
  })

  it('count only enabled profiles when looking for the only one', () => {
    expect(cookbook.names.get('onlyenabled')).toBe('onlyenabled:on')
    expect(cookbook.profiles.has('onlyenabled:off')).toBe(false)
  })

  it('map aliases like the model name', () => {
    expect(cookbook.names.get('wd')).toBe('withdefault:default')
    expect(cookbook.names.get('solo')).toBe('single:only')
    expect(cookbook.names.get('lone')).toBe('single:only')
  })

  it('give no bare name to a model with several profiles and none called default', () => {
    expect(cookbook.names.has('ambiguous')).toBe(false)
    expect(cookbook.names.has('amb')).toBe(false)
    expect(cookbook.profiles.has('ambiguous:fast')).toBe(true)
  })

  it('leave disabled models out entirely', () => {
    expect(cookbook.profiles.has('gone:default')).toBe(false)
    expect(cookbook.names.has('gone')).toBe(false)
    expect(cookbook.names.has('ghost')).toBe(false)
  })

  it('fail when an alias is already a model name or another alias', async () => {
    const a = await tmp.write(
      'a.yaml',
      'models:\n  - { name: x, aliases: [y], profiles: [{ id: default, model_path: x.gguf }] }\n  - { name: y, profiles: [{ id: default, model_path: y.gguf }] }\n',
    )
    expect((await errorOf(() => loadCookbook(a))).message).toBe(`${a}: models[x].aliases: "y" is a model name (in ${a})`)
    const b = await tmp.write(
      'b.yaml',
      'models:\n  - { name: x, aliases: [z], profiles: [{ id: default, model_path: x.gguf }] }\n  - { name: y, aliases: [z], profiles: [{ id: default, model_path: y.gguf }] }\n',
    )
    expect((await errorOf(() => loadCookbook(b))).message).toContain('"z" is already an alias')
  })

  it('fail when a model defines the same profile twice', async () => {
    const file = await tmp.write('d.yaml', 'models:\n  - { name: x, profiles: [{ id: p, model_path: a.gguf }, { id: p, model_path: b.gguf }] }\n')
    expect((await errorOf(() => loadCookbook(file))).message).toBe(`${file}: models[x]: profile "p" is defined twice`)
  })
})

describe('resolveModel', () => {
  let tmp: TempDir
  let cookbook: Cookbook
  beforeEach(async () => {
    tmp = await tempDir()
    cookbook = await loadCookbook(await tmp.write('c.yaml', `default_model: single\n${COOKBOOK}`))
  })
  afterEach(() => tmp.remove())

  it('resolves a bare model name, model:profile and an alias', () => {
    expect(resolveModel(cookbook, 'withdefault')).toBe('withdefault:default')
    expect(resolveModel(cookbook, 'withdefault:fast')).toBe('withdefault:fast')
    expect(resolveModel(cookbook, 'wd')).toBe('withdefault:default')
  })

  it('resolves alias:profile', () => {
    expect(resolveModel(cookbook, 'wd:fast')).toBe('withdefault:fast')
    expect(resolveModel(cookbook, 'amb:long')).toBe('ambiguous:long')
  })

  it('uses default_model when no model is asked for', () => {
    expect(cookbook.defaultModel).toBe('single:only')
    expect(resolveModel(cookbook, undefined)).toBe('single:only')
    expect(resolveModel(cookbook, '')).toBe('single:only')
  })

  it('returns undefined for unknown names, unknown profiles, ambiguous and disabled models', () => {
    expect(resolveModel(cookbook, 'nope')).toBeUndefined()
    expect(resolveModel(cookbook, 'withdefault:nope')).toBeUndefined()
    expect(resolveModel(cookbook, 'ambiguous')).toBeUndefined()
    expect(resolveModel(cookbook, 'gone')).toBeUndefined()
    expect(resolveModel(cookbook, 'gone:default')).toBeUndefined()
    expect(resolveModel(cookbook, 'onlyenabled:off')).toBeUndefined()
  })

  it('returns undefined when there is no model and no default_model', async () => {
    const bare = await loadCookbook(await tmp.write('bare.yaml', COOKBOOK))
    expect(resolveModel(bare, undefined)).toBeUndefined()
  })
})

describe('default_model', () => {
  let tmp: TempDir
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(() => tmp.remove())

  it('accepts model:profile', async () => {
    const cookbook = await loadCookbook(await tmp.write('c.yaml', `default_model: ambiguous:long\n${COOKBOOK}`))
    expect(cookbook.defaultModel).toBe('ambiguous:long')
  })

  it('fails naming the file when it names no enabled model', async () => {
    const file = await tmp.write('c.yaml', `default_model: gone\n${COOKBOOK}`)
    const err = await errorOf(() => loadCookbook(file))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toBe(`${file}: default_model: "gone" is not an enabled model, model:profile, alias or listed backend model`)
  })

  it('fails listing the profiles when it names an ambiguous model', async () => {
    const file = await tmp.write('c.yaml', `default_model: ambiguous\n${COOKBOOK}`)
    expect((await errorOf(() => loadCookbook(file))).message).toContain('name one of ambiguous:fast, ambiguous:long')
  })

  it('fails when two files of a folder set different defaults', async () => {
    const a = await tmp.write('a.yaml', `default_model: single\n${COOKBOOK}`)
    const b = await tmp.write('b.yaml', 'default_model: other\n')
    expect((await errorOf(() => loadCookbook(tmp.dir))).message).toBe(`default_model is set twice: "single" in ${a} and "other" in ${b}`)
  })
})
