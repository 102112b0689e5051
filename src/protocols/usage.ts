/**
 * Token usage, both ways. The two protocols count the prompt differently: OpenAI's
 * `prompt_tokens` includes cached tokens (`prompt_tokens_details.cached_tokens` says how
 * many), Anthropic's `input_tokens` excludes both the tokens read from the cache
 * (`cache_read_input_tokens`) and those written to it (`cache_creation_input_tokens`).
 * So `prompt_tokens = input_tokens + cache_read + cache_creation`, and back.
 */
import type { AnthropicUsage } from './anthropic-types.ts'
import type { OpenaiUsage } from './openai-types.ts'
import { isObject } from './read.ts'

const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined)

/** Anthropic `usage` (an answer's, or start and delta merged) as OpenAI's. */
export function anthropicUsageToOpenai(usage: unknown): OpenaiUsage {
  const u = isObject(usage) ? usage : {}
  const cacheRead = count(u['cache_read_input_tokens'])
  const cacheWrite = count(u['cache_creation_input_tokens'])
  const prompt = (count(u['input_tokens']) ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0)
  const completion = count(u['output_tokens']) ?? 0
  const details = isObject(u['output_tokens_details']) ? count(u['output_tokens_details']['thinking_tokens']) : undefined
  const cached = {
    ...(cacheRead === undefined ? {} : { cached_tokens: cacheRead }),
    ...(cacheWrite === undefined ? {} : { cache_write_tokens: cacheWrite }),
  }
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(Object.keys(cached).length === 0 ? {} : { prompt_tokens_details: cached }),
    ...(details === undefined ? {} : { completion_tokens_details: { reasoning_tokens: details } }),
  }
}

/** OpenAI `usage` as Anthropic's; cache counts stay null where the backend gave none. */
export function openaiUsageToAnthropic(usage: unknown): AnthropicUsage {
  const u = isObject(usage) ? usage : {}
  const details = isObject(u['prompt_tokens_details']) ? u['prompt_tokens_details'] : {}
  const cacheRead = count(details['cached_tokens'])
  const cacheWrite = count(details['cache_write_tokens'])
  const prompt = count(u['prompt_tokens']) ?? 0
  return {
    input_tokens: Math.max(0, prompt - (cacheRead ?? 0) - (cacheWrite ?? 0)),
    output_tokens: count(u['completion_tokens']) ?? 0,
    cache_creation_input_tokens: cacheWrite ?? null,
    cache_read_input_tokens: cacheRead ?? null,
  }
}
