import { describe, expect, it } from 'vitest'
import { DEFAULT_ANTHROPIC_MAX_TOKENS, includeUsage, openaiChatToAnthropic } from '../../src/protocols/index.ts'
import { thrown } from './helpers.ts'

const user = (content: unknown): unknown => ({ role: 'user', content })
const base = { model: 'claude-x', messages: [user('hi')] }
const PNG = 'iVBORw0KGgo='

/** [what, OpenAI request, the Anthropic request it becomes]. */
const CASES: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ['a single user turn gets the default max_tokens', base, { model: 'claude-x', max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS, messages: [user('hi')] }],
  ['max_completion_tokens is max_tokens', { ...base, max_completion_tokens: 77 }, { model: 'claude-x', max_tokens: 77, messages: [user('hi')] }],
  ['legacy max_tokens is max_tokens', { ...base, max_tokens: 55 }, { model: 'claude-x', max_tokens: 55, messages: [user('hi')] }],
  [
    'one system string stays a string',
    { ...base, messages: [{ role: 'system', content: 'be brief' }, user('hi')] },
    { model: 'claude-x', max_tokens: 4096, system: 'be brief', messages: [user('hi')] },
  ],
  [
    'leading system and developer messages merge into text blocks',
    { ...base, messages: [{ role: 'system', content: 'a' }, { role: 'developer', content: [{ type: 'text', text: 'b' }] }, user('hi')] },
    {
      model: 'claude-x',
      max_tokens: 4096,
      system: [
        { type: 'text', text: 'a' },
        { type: 'text', text: 'b' },
      ],
      messages: [user('hi')],
    },
  ],
  [
    'sampling, stop, stream and user',
    { ...base, temperature: 0.5, top_p: 0.9, top_k: 40, stop: 'END', stream: true, stream_options: { include_usage: true }, user: 'u1' },
    {
      model: 'claude-x',
      max_tokens: 4096,
      messages: [user('hi')],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['END'],
      stream: true,
      metadata: { user_id: 'u1' },
    },
  ],
  [
    'stop as a list; safety_identifier wins over user',
    { ...base, stop: ['a', 'b'], user: 'old', safety_identifier: 'new' },
    { model: 'claude-x', max_tokens: 4096, messages: [user('hi')], stop_sequences: ['a', 'b'], metadata: { user_id: 'new' } },
  ],
  [
    'fields without effect on the answer are dropped, neutral values accepted',
    {
      ...base,
      seed: 1,
      store: false,
      metadata: { a: 'b' },
      service_tier: 'auto',
      n: 1,
      logprobs: false,
      frequency_penalty: 0,
      presence_penalty: null,
      logit_bias: {},
    },
    { model: 'claude-x', max_tokens: 4096, messages: [user('hi')] },
  ],
  [
    'images: data URLs become base64 sources, http(s) URLs url sources; detail is dropped',
    {
      ...base,
      messages: [
        user([
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}`, detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ]),
      ],
    },
    {
      model: 'claude-x',
      max_tokens: 4096,
      messages: [
        user([
          { type: 'text', text: 'what is this?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ]),
      ],
    },
  ],
  [
    'tools, a named tool_choice and parallel_tool_calls: false',
    {
      ...base,
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
        { type: 'function', function: { name: 'noop', strict: true } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
    },
    {
      model: 'claude-x',
      max_tokens: 4096,
      messages: [user('hi')],
      tools: [
        { name: 'get_weather', description: 'Weather now', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
        { name: 'noop', input_schema: { type: 'object', properties: {} }, strict: true },
      ],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
    },
  ],
  [
    'tool_choice required is any',
    { ...base, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' },
    {
      model: 'claude-x',
      max_tokens: 4096,
      messages: [user('hi')],
      tools: [{ name: 'f', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'any' },
    },
  ],
  [
    'parallel_tool_calls: false alone is auto without parallel use',
    { ...base, tools: [{ type: 'function', function: { name: 'f' } }], parallel_tool_calls: false },
    {
      model: 'claude-x',
      max_tokens: 4096,
      messages: [user('hi')],
      tools: [{ name: 'f', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    },
  ],
  [
    'a tool-calling conversation: tool_calls are tool_use blocks, consecutive tool results one user turn',
    {
      ...base,
      messages: [
        user('weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        user('and tomorrow?'),
      ],
    },
    {
      model: 'claude-x',
      max_tokens: 4096,
      messages: [
        user('weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        user([
          { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
          { type: 'text', text: 'and tomorrow?' },
        ]),
      ],
    },
  ],
  [
    'an assistant refusal in the history is what it said',
    { ...base, messages: [user('x'), { role: 'assistant', content: null, refusal: 'I cannot.' }, user('ok')] },
    { model: 'claude-x', max_tokens: 4096, messages: [user('x'), { role: 'assistant', content: [{ type: 'text', text: 'I cannot.' }] }, user('ok')] },
  ],
  [
    'response_format json_schema is output_config.format',
    { ...base, response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: { type: 'object' } } } },
    { model: 'claude-x', max_tokens: 4096, messages: [user('hi')], output_config: { format: { type: 'json_schema', schema: { type: 'object' } } } },
  ],
]

/** [field the refusal names, OpenAI request]. */
const REFUSALS: [string, Record<string, unknown>][] = [
  ['n', { ...base, n: 2 }],
  ['logprobs', { ...base, logprobs: true }],
  ['top_logprobs', { ...base, top_logprobs: 3 }],
  ['frequency_penalty', { ...base, frequency_penalty: 0.5 }],
  ['logit_bias', { ...base, logit_bias: { '50256': -100 } }],
  ['functions', { ...base, functions: [{ name: 'f' }] }],
  ['reasoning_effort', { ...base, reasoning_effort: 'high' }],
  ['modalities', { ...base, modalities: ['text', 'audio'] }],
  ['min_p', { ...base, min_p: 0.1 }],
  ['temperature', { ...base, temperature: 1.5 }],
  ['max_tokens', { ...base, max_tokens: 10, max_completion_tokens: 20 }],
  ['stream_options.chunk_size', { ...base, stream_options: { chunk_size: 3 } }],
  ['response_format.type', { ...base, response_format: { type: 'json_object' } }],
  ['response_format.json_schema.description', { ...base, response_format: { type: 'json_schema', json_schema: { schema: {}, description: 'd' } } }],
  ['messages', { ...base, messages: 'hi' }],
  ['messages[0].role', { ...base, messages: [{ role: 'function', name: 'f', content: 'x' }] }],
  ['messages[0].name', { ...base, messages: [{ role: 'user', name: 'alice', content: 'x' }] }],
  ['messages[2].role', { ...base, messages: [user('a'), { role: 'assistant', content: 'b' }, { role: 'system', content: 'late' }, user('c')] }],
  ['messages[0].content[0].type', { ...base, messages: [user([{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }])] }],
  ['messages[0].content[0].image_url.url', { ...base, messages: [user([{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }])] }],
  ['messages[0].content[0].image_url.url', { ...base, messages: [user([{ type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } }])] }],
  ['messages[0].content[0].image_url.url', { ...base, messages: [user([{ type: 'image_url', image_url: { url: 'data:image/png,raw' } }])] }],
  ['messages[0].content[1].type', { ...base, messages: [{ role: 'system', content: [{ type: 'text', text: 'a' }, { type: 'image_url' }] }, user('x')] }],
  [
    'messages[1].tool_calls[0].function.arguments',
    {
      ...base,
      messages: [user('a'), { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }, user('b')],
    },
  ],
  ['messages[1]', { ...base, messages: [user('a'), { role: 'assistant', content: 'The answer is' }] }],
  ['tools[0].type', { ...base, tools: [{ type: 'custom', custom: { name: 'grammar' } }] }],
  ['tools[0].function.examples', { ...base, tools: [{ type: 'function', function: { name: 'f', examples: [] } }] }],
  ['tool_choice', { ...base, tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } }],
  ['model', { messages: [user('hi')] }],
]

describe('converting an OpenAI chat request to Anthropic', () => {
  it.each(CASES)('%s', (_what, request, expected) => {
    expect(openaiChatToAnthropic(request)).toEqual(expected)
  })

  it.each(REFUSALS)('refuses what Anthropic cannot express, naming %s', (param, request) => {
    const err = thrown(() => openaiChatToAnthropic(request))
    expect(err.code).toBe('invalid_request')
    expect(err.status).toBe(400)
    expect(err.param).toBe(param)
    expect(err.message).toContain(param)
  })

  it('takes a configured default max_tokens', () => {
    expect(openaiChatToAnthropic(base, { defaultMaxTokens: 1000 }).max_tokens).toBe(1000)
  })

  it('reports whether a stream asked for its usage chunk', () => {
    expect(includeUsage({ ...base, stream: true, stream_options: { include_usage: true } })).toBe(true)
    expect(includeUsage({ ...base, stream: true })).toBe(false)
  })

  it('does not change the request it converts', () => {
    const request = structuredClone(CASES[12]?.[1])
    const copy = structuredClone(request)
    openaiChatToAnthropic(request)
    expect(request).toEqual(copy)
  })
})
