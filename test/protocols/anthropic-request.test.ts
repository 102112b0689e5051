import { describe, expect, it } from 'vitest'
import { anthropicToOpenaiChat, openaiChatToAnthropic } from '../../src/protocols/index.ts'
import { thrown } from './helpers.ts'

const user = (content: unknown): unknown => ({ role: 'user', content })
const base = { model: 'qwen', max_tokens: 100, messages: [user('hi')] }

/** [what, Anthropic request, the OpenAI request it becomes]. */
const CASES: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ['a single user turn', base, { model: 'qwen', messages: [user('hi')], max_tokens: 100 }],
  [
    'a system string leads',
    { ...base, system: 'be brief' },
    { model: 'qwen', messages: [{ role: 'system', content: 'be brief' }, user('hi')], max_tokens: 100 },
  ],
  [
    'system text blocks are text parts; cache_control is dropped',
    {
      ...base,
      system: [
        { type: 'text', text: 'a', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'b' },
      ],
    },
    {
      model: 'qwen',
      messages: [
        {
          role: 'system',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
        user('hi'),
      ],
      max_tokens: 100,
    },
  ],
  [
    'sampling, stop sequences, user; a stream asks for its usage',
    { ...base, temperature: 0.2, top_p: 0.8, top_k: 20, stop_sequences: ['END'], stream: true, metadata: { user_id: 'u1' } },
    {
      model: 'qwen',
      messages: [user('hi')],
      max_tokens: 100,
      stop: ['END'],
      temperature: 0.2,
      top_p: 0.8,
      top_k: 20,
      stream: true,
      stream_options: { include_usage: true },
      user: 'u1',
    },
  ],
  [
    'dropped on purpose: service_tier, cache_control, a disabled thinking',
    { ...base, service_tier: 'auto', cache_control: { type: 'ephemeral' }, thinking: { type: 'disabled' } },
    { model: 'qwen', messages: [user('hi')], max_tokens: 100 },
  ],
  [
    'images: base64 sources become data URLs, url sources URLs',
    {
      ...base,
      messages: [
        user([
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          { type: 'text', text: 'compare' },
        ]),
      ],
    },
    {
      model: 'qwen',
      messages: [
        user([
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          { type: 'text', text: 'compare' },
        ]),
      ],
      max_tokens: 100,
    },
  ],
  [
    'tools and tool_choice any with disable_parallel_tool_use',
    {
      ...base,
      tools: [
        {
          name: 'get_weather',
          description: 'Weather now',
          input_schema: { type: 'object', properties: { city: { type: 'string' } } },
          cache_control: { type: 'ephemeral' },
        },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    },
    {
      model: 'qwen',
      messages: [user('hi')],
      max_tokens: 100,
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
    },
  ],
  [
    'tool_choice tool is a named function',
    { ...base, tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'f' } },
    {
      model: 'qwen',
      messages: [user('hi')],
      max_tokens: 100,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
    },
  ],
  [
    'a tool-calling conversation: tool_use is tool_calls, tool_result blocks are tool messages before the text',
    {
      ...base,
      messages: [
        user('weather in Paris?'),
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'I should call the tool.', signature: 'sig' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        user([
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
          {
            type: 'tool_result',
            tool_use_id: 'toolu_2',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
            is_error: true,
          },
          { type: 'text', text: 'and tomorrow?' },
        ]),
      ],
    },
    {
      model: 'qwen',
      messages: [
        user('weather in Paris?'),
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        {
          role: 'tool',
          tool_call_id: 'toolu_2',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
        user([{ type: 'text', text: 'and tomorrow?' }]),
      ],
      max_tokens: 100,
    },
  ],
  [
    'an assistant turn of only tool_use has null content',
    {
      ...base,
      messages: [
        user('go'),
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
        user([{ type: 'tool_result', tool_use_id: 't' }]),
      ],
    },
    {
      model: 'qwen',
      messages: [
        user('go'),
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 't', content: '' },
      ],
      max_tokens: 100,
    },
  ],
  [
    'a system message inside the conversation stays where it is',
    { ...base, messages: [user('a'), { role: 'assistant', content: 'b' }, { role: 'system', content: 'now be terse' }, user('c')] },
    { model: 'qwen', messages: [user('a'), { role: 'assistant', content: 'b' }, { role: 'system', content: 'now be terse' }, user('c')], max_tokens: 100 },
  ],
  [
    'output_config.format json_schema is response_format',
    { ...base, output_config: { format: { type: 'json_schema', schema: { type: 'object' } } } },
    {
      model: 'qwen',
      messages: [user('hi')],
      max_tokens: 100,
      response_format: { type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object' }, strict: true } },
    },
  ],
]

/** [field the refusal names, Anthropic request]. */
const REFUSALS: [string, Record<string, unknown>][] = [
  ['thinking', { ...base, thinking: { type: 'enabled', budget_tokens: 2000 } }],
  ['inference_geo', { ...base, inference_geo: 'eu' }],
  ['container', { ...base, container: 'c1' }],
  ['mcp_servers', { ...base, mcp_servers: [{ type: 'url', url: 'https://x' }] }],
  ['output_config.effort', { ...base, output_config: { effort: 'high' } }],
  ['tools[0].type', { ...base, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }],
  ['tools[0].input_examples', { ...base, tools: [{ name: 'f', input_schema: { type: 'object' }, input_examples: [{}] }] }],
  ['tool_choice.type', { ...base, tool_choice: { type: 'sometimes' } }],
  ['metadata.tags', { ...base, metadata: { tags: ['a'] } }],
  ['messages[0].role', { ...base, messages: [{ role: 'tool', content: 'x' }] }],
  ['messages[0].content[0].type', { ...base, messages: [user([{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }])] }],
  ['messages[0].content[0].source.type', { ...base, messages: [user([{ type: 'image', source: { type: 'file', file_id: 'f1' } }])] }],
  [
    'messages[0].content[1].type',
    {
      ...base,
      messages: [
        user([
          { type: 'text', text: 'first' },
          { type: 'tool_result', tool_use_id: 't', content: 'x' },
        ]),
      ],
    },
  ],
  [
    'messages[0].content[0].content[0].type',
    { ...base, messages: [user([{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: { type: 'url', url: 'https://x/a.png' } }] }])] },
  ],
  ['messages[0].content[0].citations', { ...base, messages: [user([{ type: 'text', text: 'x', citations: [{ type: 'char_location' }] }])] }],
  [
    'messages[1].content[0].type',
    { ...base, messages: [user('a'), { role: 'assistant', content: [{ type: 'server_tool_use', id: 's', name: 'web_search', input: {} }] }, user('b')] },
  ],
  ['messages[1]', { ...base, messages: [user('a'), { role: 'assistant', content: 'The answer is (' }] }],
  ['stop_sequences[1]', { ...base, stop_sequences: ['a', 3] }],
  ['temperature', { ...base, temperature: 'hot' }],
]

describe('converting an Anthropic request to OpenAI chat', () => {
  it.each(CASES)('%s', (_what, request, expected) => {
    expect(anthropicToOpenaiChat(request)).toEqual(expected)
  })

  it.each(REFUSALS)('refuses what OpenAI cannot express, naming %s', (param, request) => {
    const err = thrown(() => anthropicToOpenaiChat(request))
    expect(err.code).toBe('invalid_request')
    expect(err.param).toBe(param)
    expect(err.message).toContain(param)
  })

  it('puts max_tokens in max_completion_tokens when the backend wants it there', () => {
    expect(anthropicToOpenaiChat(base, { maxTokensField: 'max_completion_tokens' })).toEqual({
      model: 'qwen',
      messages: [user('hi')],
      max_completion_tokens: 100,
    })
  })

  it('comes back to the same Anthropic request through OpenAI', () => {
    const request = {
      model: 'claude-x',
      max_tokens: 300,
      system: 'be brief',
      messages: [
        user('weather?'),
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        user([
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
          { type: 'text', text: 'thanks' },
        ]),
      ],
      stop_sequences: ['END'],
      temperature: 0.3,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    }
    expect(openaiChatToAnthropic(anthropicToOpenaiChat(request))).toEqual(request)
  })
})
