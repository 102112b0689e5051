/**
 * Reading a backend's model list (`discover: true`): the OpenAI/Anthropic shape
 * `{data: [{id}]}` from GET {base_url}/models, or Ollama's own `{models: [{name}]}` from
 * GET /api/tags. A backend's answer is a boundary like any other: read up to
 * MAX_DISCOVERY_BYTES, parsed by a schema, at most MAX_BACKEND_MODELS names kept, and a
 * name herd could not route by is skipped.
 */
import type { Readable } from 'node:stream'
import { z } from 'zod'
import { MAX_BACKEND_MODELS } from '../config/index.ts'

/** A model list larger than this is not read further (OpenRouter's is ~0.5 MiB). */
export const MAX_DISCOVERY_BYTES = 4 * 1024 * 1024

/** The same rule the cookbook applies to listed models. */
const MODEL_NAME = /^[A-Za-z0-9._:/@+-]{1,256}$/

const entry = z.looseObject({ id: z.string().optional(), name: z.string().optional(), model: z.string().optional() })
const openaiList = z.looseObject({ data: z.array(entry) })
const ollamaList = z.looseObject({ models: z.array(entry) })

export interface Discovered {
  models: string[]
  /** Entries without a usable name, and those past the cap. */
  skipped: number
}

/** Model names in a list body, or an Error saying why there are none. */
export function parseModelList(text: string): Discovered | Error {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return new Error('the model list is not JSON')
  }
  const openai = openaiList.safeParse(value)
  const ollama = openai.success ? undefined : ollamaList.safeParse(value)
  const entries = openai.success ? openai.data.data : ollama?.success ? ollama.data.models : undefined
  if (entries === undefined) return new Error('the model list has neither data[] nor models[]')
  const models: string[] = []
  let skipped = 0
  const seen = new Set<string>()
  for (const e of entries) {
    const name = e.id ?? e.name ?? e.model
    if (name === undefined || !MODEL_NAME.test(name) || seen.has(name) || models.length >= MAX_BACKEND_MODELS) {
      skipped++
      continue
    }
    seen.add(name)
    models.push(name)
  }
  return { models, skipped }
}

/** Up to `maxBytes` of a body as text; an Error when there was more (the rest is not read). */
export async function readCapped(body: Readable, maxBytes: number): Promise<string | Error> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    size += b.byteLength
    if (size > maxBytes) {
      body.destroy()
      return new Error(`more than ${maxBytes} bytes`)
    }
    chunks.push(b)
  }
  return Buffer.concat(chunks).toString('utf8')
}
