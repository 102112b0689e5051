/**
 * What the semantic cache compares: the text of the request's last user turn (the chat or
 * Messages turn, the Responses `input`, the completion `prompt`), and everything else in
 * the body, which must match exactly. Two requests are "the same question" only when the
 * system prompt, the earlier turns and the parameters are identical and the last user text
 * is close in meaning; a similar question in another conversation is another question.
 * Turns holding anything but text (images, tool results, documents) are left to the exact
 * cache: their meaning is not in the text.
 */
import type { Endpoint } from '../router/types.ts'

/** Longer texts are not embedded (an embedding model's context is short; a long prompt is rarely repeated in other words). */
export const MAX_SEMANTIC_TEXT = 8 * 1024

export interface SemanticPrompt {
  /** The text to embed. */
  text: string
  /** The body with that text taken out: the part that must match exactly. */
  rest: Record<string, unknown>
}

export function semanticPrompt(endpoint: Endpoint, body: Record<string, unknown>): SemanticPrompt | undefined {
  const found = locate(endpoint, body)
  if (found === undefined || found.text.trim() === '' || found.text.length > MAX_SEMANTIC_TEXT) return undefined
  return found
}

function locate(endpoint: Endpoint, body: Record<string, unknown>): SemanticPrompt | undefined {
  switch (endpoint) {
    case 'chat':
    case 'messages':
      return lastUserTurn(body, 'messages', 'text')
    case 'responses':
      if (typeof body['input'] === 'string') return { text: body['input'], rest: { ...body, input: null } }
      return lastUserTurn(body, 'input', 'input_text')
    case 'completions':
      return typeof body['prompt'] === 'string' ? { text: body['prompt'], rest: { ...body, prompt: null } } : undefined
    default:
      return undefined
  }
}

/** The last `role: user` item of `body[field]` whose content is a string or text parts only. */
function lastUserTurn(body: Record<string, unknown>, field: string, textType: string): SemanticPrompt | undefined {
  const turns = body[field]
  if (!Array.isArray(turns)) return undefined
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn: unknown = turns[i]
    if (!isObject(turn) || turn['role'] !== 'user') continue
    const text = textOf(turn['content'], textType)
    if (text === undefined) return undefined
    const rest = [...turns]
    rest[i] = { ...turn, content: null }
    return { text, rest: { ...body, [field]: rest } }
  }
  return undefined
}

function textOf(content: unknown, textType: string): string | undefined {
  if (typeof content === 'string') return content
  if (!Array.isArray(content) || content.length === 0) return undefined
  const parts: string[] = []
  for (const part of content) {
    if (!isObject(part) || part['type'] !== textType || typeof part['text'] !== 'string') return undefined
    parts.push(part['text'])
  }
  return parts.join('\n')
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
