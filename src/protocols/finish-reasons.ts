/**
 * Why generation stopped, both ways (the same maps serve answers and streams).
 *
 * | Anthropic `stop_reason`           | OpenAI `finish_reason` |
 * | --------------------------------- | ---------------------- |
 * | `end_turn`, `stop_sequence`       | `stop`                 |
 * | `max_tokens`, `model_context_window_exceeded` | `length`   |
 * | `tool_use`                        | `tool_calls`           |
 * | `refusal`                         | `content_filter`       |
 * | `pause_turn` (server tools only, which herd refuses) | `stop` |
 *
 * Back: `stop` is `end_turn`, or `stop_sequence` when the backend names the sequence it
 * matched (vLLM's `stop_reason` string); `length` is `max_tokens`; `tool_calls` and the
 * legacy `function_call` are `tool_use`; `content_filter` is `refusal`.
 */
import type { AnthropicStopReason } from './anthropic-types.ts'
import type { OpenaiFinishReason } from './openai-types.ts'

const TO_OPENAI: Readonly<Record<AnthropicStopReason, OpenaiFinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
}

/** An Anthropic stop_reason as a finish_reason; one this table does not know reads as `stop`. */
export function anthropicStopToFinishReason(stopReason: unknown): OpenaiFinishReason {
  return typeof stopReason === 'string' && Object.hasOwn(TO_OPENAI, stopReason) ? TO_OPENAI[stopReason as AnthropicStopReason] : 'stop'
}

const TO_ANTHROPIC: Readonly<Record<string, AnthropicStopReason>> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
}

export interface AnthropicStop {
  stop_reason: AnthropicStopReason
  stop_sequence: string | null
}

/**
 * An OpenAI finish_reason as stop_reason and stop_sequence. `matched` is vLLM's
 * `choices[i].stop_reason`: the stop string that ended generation, when one did.
 */
export function finishReasonToAnthropicStop(finishReason: unknown, matched?: unknown): AnthropicStop {
  if (finishReason === 'stop' && typeof matched === 'string') return { stop_reason: 'stop_sequence', stop_sequence: matched }
  const reason = typeof finishReason === 'string' && Object.hasOwn(TO_ANTHROPIC, finishReason) ? TO_ANTHROPIC[finishReason] : undefined
  return { stop_reason: reason ?? 'end_turn', stop_sequence: null }
}
