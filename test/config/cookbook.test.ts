import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadCookbook } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

/** A cookbook with one model and one profile whose extra keys are `profile` (YAML lines). */
const oneProfile = (profile: string, model = 'm'): string =>
  `models:\n  - name: ${model}\n    profiles:\n      - id: default\n${profile.replace(/^/gm, '        ')}\n`

describe('loadCookbook', () => {
  let tmp: TempDir
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(() => tmp.remove())

  it('resolves a profile: absolute model path, tokenized args, milliseconds and a launch hash', async () => {
    const file = await tmp.write('cookbook.yaml', oneProfile('model_path: models/m.gguf\nllama_server_args: -c 512 --parallel 2\nidle_timeout_seconds: 1.5'))
    const cookbook = await loadCookbook(file)
    const spec = cookbook.profiles.get('m:default')
    expect(spec).toMatchObject({
      id: 'm:default',
      model: 'm',
      profile: 'default',
      modelPath: join(tmp.dir, 'models/m.gguf'),
      args: ['-c', '512', '--parallel', '2'],
      capabilities: { completion: true, embeddings: false, rerank: false },
      idleTimeoutMs: 1500,
      startupTimeoutMs: 120_000,
      maxInstances: 1,
      maxQueueSize: 64,
      maxWaitInQueueMs: 60_000,
    })
    expect(spec?.launchHash).toMatch(/^[0-9a-f]{16}$/)
    expect(cookbook.sources).toEqual([file])
    expect(Object.isFrozen(spec)).toBe(true)
    expect(Object.isFrozen(spec?.args)).toBe(true)
  })

  it('expands ~ in model_path and passes list args through untouched', async () => {
    const file = await tmp.write('c.yaml', oneProfile('model_path: ~/m.gguf\nllama_server_args: ["-c", "a b"]'))
    const spec = (await loadCookbook(file)).profiles.get('m:default')
    expect(spec?.modelPath).toBe(join(homedir(), 'm.gguf'))
    expect(spec?.args).toEqual(['-c', 'a b'])
  })

  it('gives the same launch hash for the same launch and another one when the args change', async () => {
    const a = await tmp.write('a.yaml', oneProfile('model_path: m.gguf\nllama_server_args: -c 512'))
    const b = await tmp.write('b.yaml', oneProfile('model_path: m.gguf\nllama_server_args: ["-c", "512"]'))
    const c = await tmp.write('c.yaml', oneProfile('model_path: m.gguf\nllama_server_args: -c 1024'))
    const hash = async (f: string) => (await loadCookbook(f)).profiles.get('m:default')?.launchHash
    expect(await hash(a)).toBe(await hash(b))
    expect(await hash(a)).not.toBe(await hash(c))
  })

  it('merges the YAML files of a folder, skipping dot files and other extensions', async () => {
    await tmp.write('a.yaml', oneProfile('model_path: a.gguf', 'a'))
    await tmp.write('b.yml', `default_model: b\n${oneProfile('model_path: b.gguf', 'b')}`)
    await tmp.write('.c.yaml', 'not: [valid')
    await tmp.write('notes.txt', 'ignored')
    const cookbook = await loadCookbook(tmp.dir)
    expect([...cookbook.profiles.keys()]).toEqual(['a:default', 'b:default'])
    expect(cookbook.defaultModel).toBe('b:default')
    expect(cookbook.sources).toEqual([join(tmp.dir, 'a.yaml'), join(tmp.dir, 'b.yml')])
  })

  it('fails naming both files when two files define the same model', async () => {
    const a = await tmp.write('a.yaml', oneProfile('model_path: a.gguf', 'same'))
    const b = await tmp.write('b.yaml', oneProfile('model_path: b.gguf', 'same'))
    const err = await errorOf(() => loadCookbook(tmp.dir))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toBe(`model "same" is defined in both ${a} and ${b}`)
  })

  it('fails naming the file and the key path on an unknown key', async () => {
    const file = await tmp.write('c.yaml', oneProfile('modle_path: m.gguf'))
    const err = await errorOf(() => loadCookbook(file))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toBe(`${file}: models[m].profiles[default].modle_path: unknown key`)
  })

  it('fails naming the key path on a wrong type', async () => {
    const file = await tmp.write('c.yaml', oneProfile('model_path: m.gguf\nmax_instances: two\nllama_server_args: 5'))
    const err = await errorOf(() => loadCookbook(file))
    expect(err.message).toContain(`${file}: models[m].profiles[default].max_instances: expected a number, got a string`)
    expect(err.message).toContain(`${file}: models[m].profiles[default].llama_server_args: expected a string or a list of strings`)
  })

  it('fails when the cookbook does not exist', async () => {
    const err = await errorOf(() => loadCookbook(join(tmp.dir, 'nope.yaml')))
    expect(err.message).toBe(`${join(tmp.dir, 'nope.yaml')}: cookbook not found`)
  })

  it('refuses --port and --host in the args, naming the profile', async () => {
    const file = await tmp.write('c.yaml', oneProfile('model_path: m.gguf\nllama_server_args: -c 512 --port 8081'))
    const err = await errorOf(() => loadCookbook(file))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toMatch(new RegExp(`^${file}: models\\[m\\]\\.profiles\\[default\\]: llama_server_args: --port is set by herd`))
    const host = await tmp.write('h.yaml', oneProfile('model_path: m.gguf\nllama_server_args: ["--host=0.0.0.0"]'))
    expect((await errorOf(() => loadCookbook(host))).message).toContain('--host is set by herd')
  })

  it('refuses -m in the args when model_path is given', async () => {
    const file = await tmp.write('c.yaml', oneProfile('model_path: m.gguf\nllama_server_args: -m other.gguf'))
    expect((await errorOf(() => loadCookbook(file))).message).toContain('-m conflicts with model_path')
  })

  it('lifts -m out of the args into a model path relative to the cookbook', async () => {
    const file = await tmp.write('c.yaml', oneProfile('llama_server_args: -c 512 --model sub/m.gguf -ngl 99'))
    const spec = (await loadCookbook(file)).profiles.get('m:default')
    expect(spec?.modelPath).toBe(join(tmp.dir, 'sub/m.gguf'))
    expect(spec?.args).toEqual(['-c', '512', '-ngl', '99'])
  })

  it('turns hf_repo and hf_file into llama-server -hf and -hff args', async () => {
    const file = await tmp.write('c.yaml', oneProfile('hf_repo: org/repo-GGUF\nhf_file: model-Q4_K_M.gguf\nllama_server_args: -c 4096'))
    const spec = (await loadCookbook(file)).profiles.get('m:default')
    expect(spec?.modelPath).toBeUndefined()
    expect(spec?.args).toEqual(['-hf', 'org/repo-GGUF', '-hff', 'model-Q4_K_M.gguf', '-c', '4096'])
  })

  it('accepts -hf in the args as the model source', async () => {
    const file = await tmp.write('c.yaml', oneProfile('llama_server_args: -hf org/repo-GGUF:Q8_0'))
    expect((await loadCookbook(file)).profiles.get('m:default')?.args).toEqual(['-hf', 'org/repo-GGUF:Q8_0'])
  })

  it('fails naming the profile when it has no model source', async () => {
    const file = await tmp.write('c.yaml', oneProfile('llama_server_args: -c 512'))
    expect((await errorOf(() => loadCookbook(file))).message).toBe(
      `${file}: models[m].profiles[default]: needs model_path or hf_repo (or -m / -hf in llama_server_args)`,
    )
  })

  it('fails on hf_file without hf_repo and on model_path with hf_repo', async () => {
    const a = await tmp.write('a.yaml', oneProfile('model_path: m.gguf\nhf_file: x.gguf'))
    expect((await errorOf(() => loadCookbook(a))).message).toContain('hf_file needs hf_repo')
    const b = await tmp.write('b.yaml', oneProfile('model_path: m.gguf\nhf_repo: org/repo'))
    expect((await errorOf(() => loadCookbook(b))).message).toContain('model_path and hf_repo are both set')
  })

  it('fails naming the profile on an unterminated quote in the args', async () => {
    const file = await tmp.write('c.yaml', oneProfile(`model_path: m.gguf\nllama_server_args: "--alias 'x"`))
    expect((await errorOf(() => loadCookbook(file))).message).toContain("models[m].profiles[default]: llama_server_args: unterminated ' quote")
  })

  it('derives capabilities from the args', async () => {
    const file = await tmp.write(
      'c.yaml',
      [
        'models:',
        '  - name: chat',
        '    profiles: [{ id: default, model_path: c.gguf }]',
        '  - name: embed',
        '    profiles: [{ id: default, model_path: e.gguf, llama_server_args: --embedding --pooling mean }]',
        '  - name: rerank',
        '    profiles: [{ id: default, model_path: r.gguf, llama_server_args: [--reranking] }]',
      ].join('\n'),
    )
    const cookbook = await loadCookbook(file)
    expect(cookbook.profiles.get('chat:default')?.capabilities).toEqual({ completion: true, embeddings: false, rerank: false })
    expect(cookbook.profiles.get('embed:default')?.capabilities).toEqual({ completion: false, embeddings: true, rerank: false })
    expect(cookbook.profiles.get('rerank:default')?.capabilities).toEqual({ completion: false, embeddings: false, rerank: true })
  })

  it('loads the demo and example cookbooks shipped in the repository', async () => {
    const demo = await loadCookbook(join(import.meta.dirname, '../../cookbook/demo.yaml'))
    expect(demo.defaultModel).toBe('tiny:default')
    expect(demo.profiles.get('tiny-embed:default')?.capabilities.embeddings).toBe(true)
    expect(demo.profiles.get('tiny:default')?.modelPath).toBe(join(import.meta.dirname, '../../cookbook/models/tiny.gguf'))
    const example = await loadCookbook(join(import.meta.dirname, '../../cookbook/example.yaml'))
    expect(example.profiles.has('qwen2.5-7b:fast')).toBe(true)
    expect(example.profiles.has('qwen2.5-7b:long')).toBe(true)
    expect(example.names.has('qwen2.5-7b')).toBe(false)
  })

  it('reads a folder holding an empty subfolder and no files as an empty cookbook', async () => {
    await mkdir(join(tmp.dir, 'sub'))
    const cookbook = await loadCookbook(tmp.dir)
    expect(cookbook.profiles.size).toBe(0)
  })
})
