/** The cookbook's `backends:` list: defaults, strictness, credentials read (and refused) on the node, names that cannot clash. */
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadCookbook } from '../../src/config/index.ts'
import { errorOf, tempDir, type TempDir } from './helpers.ts'

const KEY = 'sk-office-0123456789'

describe('backends in the cookbook', () => {
  let tmp: TempDir
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(() => tmp.remove())

  const book = (backends: string, models = ''): Promise<string> => tmp.write('cookbook.yaml', `${models}backends:\n${backends.replace(/^/gm, '  ')}\n`)

  it('loads the example from the issue with its defaults, the key read from the environment', async () => {
    const file = await book(
      [
        '- name: office-vllm',
        '  protocol: openai',
        '  base_url: http://10.0.0.5:8000/v1/',
        '  api_key_env: OFFICE_VLLM_KEY',
        '  models: [qwen2.5-72b, {name: llama3.2:1b, aliases: [small]}]',
        '  egress: false',
        '  max_concurrency: 32',
        '  timeouts: { connect_ms: 3000, first_byte_ms: 120000, idle_ms: 30000 }',
        '  headers: { OpenAI-Organization: org-1 }',
      ].join('\n'),
    )
    const cookbook = await loadCookbook(file, { env: { OFFICE_VLLM_KEY: KEY } })
    const b = cookbook.backends?.[0]
    expect(b).toMatchObject({
      name: 'office-vllm',
      protocol: 'openai',
      baseUrl: 'http://10.0.0.5:8000/v1',
      credential: { env: 'OFFICE_VLLM_KEY' },
      models: [
        { name: 'qwen2.5-72b', aliases: [] },
        { name: 'llama3.2:1b', aliases: ['small'] },
      ],
      discover: false,
      egress: false,
      maxConcurrency: 32,
      maxQueueSize: 64,
      maxWaitInQueueMs: 60_000,
      timeouts: { connectMs: 3000, firstByteMs: 120_000, idleMs: 30_000 },
      source: file,
    })
    expect(b?.apiKey?.reveal()).toBe(KEY)
    expect(b?.headers['openai-organization']?.reveal()).toBe('org-1')
    // The frozen cookbook prints without the key or header values, however it is printed.
    expect(JSON.stringify(cookbook.backends)).not.toContain(KEY)
    expect(inspect(cookbook, { depth: 10 })).not.toContain(KEY)
    expect(JSON.stringify(cookbook.backends)).not.toContain('org-1')
    expect(Object.isFrozen(b)).toBe(true)
  })

  it('takes the conversion settings: default_max_tokens (none: the converter’s default) and max_tokens_field', async () => {
    const file = await book(
      [
        '- { name: a, protocol: anthropic, base_url: http://h/v1, models: [c], default_max_tokens: 16000 }',
        '- { name: o, protocol: openai, base_url: http://h/v1, models: [m], max_tokens_field: max_completion_tokens }',
        '- { name: p, protocol: openai, base_url: http://h/v1, models: [m] }',
      ].join('\n'),
    )
    const [a, o, p] = (await loadCookbook(file)).backends ?? []
    expect(a).toMatchObject({ defaultMaxTokens: 16_000, maxTokensField: 'max_tokens' })
    expect(o).toMatchObject({ maxTokensField: 'max_completion_tokens' })
    expect(p?.defaultMaxTokens).toBeUndefined()
    const bad = await book('- { name: o, protocol: openai, base_url: http://h/v1, models: [m], max_tokens_field: max_output_tokens }')
    expect((await errorOf(() => loadCookbook(bad))).message).toContain('max_tokens_field')
  })

  it('still loads a llamesh cookbook without backends', async () => {
    const file = await tmp.write('c.yaml', 'models:\n  - name: m\n    profiles:\n      - id: default\n        model_path: m.gguf\n')
    expect((await loadCookbook(file)).backends).toEqual([])
  })

  it('reads api_key_file relative to the cookbook when only its owner may read it', async () => {
    const keyFile = join(tmp.dir, 'office.key')
    await writeFile(keyFile, `${KEY}\n`, { mode: 0o600 })
    const file = await book('- name: o\n  protocol: anthropic\n  base_url: https://api.anthropic.com/v1\n  api_key_file: office.key\n  models: [claude]')
    const b = (await loadCookbook(file)).backends?.[0]
    expect(b?.apiKey?.reveal()).toBe(KEY)
    expect(b?.credential).toEqual({ file: keyFile })
    expect(b?.anthropicVersion).toBe('2023-06-01')
  })

  it('refuses a key file others may read, naming the file and never its content', async () => {
    const keyFile = join(tmp.dir, 'open.key')
    await writeFile(keyFile, KEY)
    await chmod(keyFile, 0o644)
    const file = await book('- name: o\n  protocol: openai\n  base_url: http://h/v1\n  api_key_file: open.key\n  models: [m]')
    const err = await errorOf(() => loadCookbook(file))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toContain(`backends[o]: api_key_file: ${keyFile} may be read by others (mode 644)`)
    expect(err.message).toContain('chmod 600')
    expect(err.message).not.toContain(KEY)
  })

  it('refuses an api_key_env that is not set, naming the variable', async () => {
    const file = await book('- name: o\n  protocol: openai\n  base_url: http://h/v1\n  api_key_env: NOPE_KEY\n  models: [m]')
    const err = await errorOf(() => loadCookbook(file, { env: {} }))
    expect(err.message).toContain('backends[o]: api_key_env: NOPE_KEY is not set')
  })

  /** One entry: the base fields with `over` replacing or adding keys (a value of undefined drops the key). */
  const entry = (over: Record<string, string | undefined>): string => {
    const fields: Record<string, string | undefined> = { name: 'o', protocol: 'openai', base_url: 'http://h/v1', models: '[m]', ...over }
    const lines = Object.entries(fields).flatMap(([k, v]) => (v === undefined ? [] : [`${k}: ${v}`]))
    return `- ${lines.join('\n  ')}`
  }

  it.each([
    ['both credentials', { api_key_env: 'A', api_key_file: 'f' }, 'api_key_file: api_key_env and api_key_file are both set'],
    ['no models and no discover', { models: undefined }, 'models: needs models: [...] or discover: true'],
    ['user:password in the URL', { base_url: 'http://u:p@h/v1' }, 'base_url: must not hold user:password@'],
    ['a query in the URL', { base_url: 'http://h/v1?key=x' }, 'base_url: must not have a query'],
    ['another scheme', { base_url: 'ftp://h/v1' }, 'base_url: expected an http:// or https:// URL'],
    ['a literal key', { api_key: 'sk-literal' }, 'api_key: unknown key'],
    ['a framing header', { headers: '{ Host: evil }' }, 'headers.Host: is set by herd itself'],
    ['an unknown protocol', { protocol: 'grpc' }, 'protocol:'],
  ])('refuses %s, naming the key', async (_what, over, message) => {
    const file = await book(entry(over))
    const err = await errorOf(() => loadCookbook(file, { env: { A: 'x' } }))
    expect(err.code).toBe('config_invalid')
    expect(err.message).toContain(`backends[o].${message}`)
    expect(err.message).not.toContain('sk-literal')
  })

  it('refuses a backend model id or alias that is a cookbook model name, and two backends of one name', async () => {
    const models = 'models:\n  - name: small\n    profiles:\n      - id: default\n        model_path: m.gguf\n'
    const clash = await book('- name: o\n  protocol: openai\n  base_url: http://h/v1\n  models: [{name: m, aliases: [small]}]', models)
    expect((await errorOf(() => loadCookbook(clash))).message).toContain('backends[o]: "small" is also a cookbook model\'s name')
    const twice = await book(
      '- name: o\n  protocol: openai\n  base_url: http://h/v1\n  models: [m]\n- name: o\n  protocol: openai\n  base_url: http://h2/v1\n  models: [m]',
    )
    expect((await errorOf(() => loadCookbook(twice))).message).toContain('backend "o" is defined twice')
  })

  it('takes a listed backend model (or its alias) as default_model', async () => {
    const file = await tmp.write(
      'c.yaml',
      'default_model: small\nbackends:\n  - name: o\n    protocol: openai\n    base_url: http://h/v1\n    models: [{name: m, aliases: [small]}]\n',
    )
    expect((await loadCookbook(file)).defaultModel).toBe('o/m')
  })
})
