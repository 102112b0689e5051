import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadCookbook } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

const MODELS = `models:
  - name: qwen-coder
    aliases: [coder-small]
    fallbacks: [llama, office-vllm/qwen-coder-32b]
    profiles:
      - id: default
        model_path: q.gguf
      - id: long
        model_path: q.gguf
  - name: llama
    profiles:
      - id: default
        model_path: l.gguf
`

describe('cookbook routes and fallbacks', () => {
  let tmp: TempDir
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(() => tmp.remove())

  it('reads routes with their strategy (first-available by default) and gives every profile its model’s fallbacks', async () => {
    const file = await tmp.write(
      'c.yaml',
      `${MODELS}routes:\n  coder: { candidates: [qwen-coder:default, office-vllm/qwen-coder-32b, openai/gpt-4o] }\n  planner: { candidates: [llama], strategy: least-busy, description: plans }\n`,
    )
    const cookbook = await loadCookbook(file)
    expect(cookbook.routes?.get('coder')).toEqual({
      name: 'coder',
      candidates: ['qwen-coder:default', 'office-vllm/qwen-coder-32b', 'openai/gpt-4o'],
      strategy: 'first-available',
      description: undefined,
    })
    expect(cookbook.routes?.get('planner')).toMatchObject({ strategy: 'least-busy', description: 'plans' })
    expect(cookbook.fallbacks?.get('qwen-coder:default')).toEqual(['llama', 'office-vllm/qwen-coder-32b'])
    expect(cookbook.fallbacks?.get('qwen-coder:long')).toEqual(['llama', 'office-vllm/qwen-coder-32b'])
    expect(cookbook.fallbacks?.has('llama:default')).toBe(false)
  })

  it('refuses a route named like a model or an alias, a route of routes, an unknown strategy and an empty list', async () => {
    const load = async (routes: string) => {
      const file = await tmp.write(
        'c.yaml',
        `${MODELS}routes:
${routes}`,
      )
      return errorOf(() => loadCookbook(file))
    }
    expect((await load('  llama: { candidates: [qwen-coder] }\n')).message).toContain('routes.llama: "llama" is already a model name')
    expect((await load('  coder-small: { candidates: [llama] }\n')).message).toContain('is already an alias')
    expect((await load('  a: { candidates: [b] }\n  b: { candidates: [llama] }\n')).message).toContain('routes.a.candidates: "b" is a route')
    expect((await load('  a: { candidates: [llama], strategy: random }\n')).message).toContain('strategy')
    expect((await load('  a: { candidates: [] }\n')).message).toContain('candidates')
  })

  it('loads a llamesh cookbook without routes or fallbacks unchanged', async () => {
    const cookbook = await loadCookbook(await tmp.write('c.yaml', 'models:\n  - name: m\n    profiles:\n      - id: default\n        model_path: m.gguf\n'))
    expect(cookbook.routes?.size).toBe(0)
    expect(cookbook.fallbacks?.size).toBe(0)
  })
})
