/**
 * bench:cache's semantic workload: 100 questions ("What is the {attribute} of {entity}?")
 * asked once each, then in five other wordings (four keep the question's words, one says it in others). The fake embedder is a bag of content words
 * (stop words dropped) hashed into 1,024 dimensions: similarity is the overlap of what the
 * question is about, so rewordings match and questions that share an attribute or an entity
 * come close ("the population of France" and "of Japan": 0.5). That makes the threshold's
 * trade-off visible (hits against wrong hits); a real embedding model moves the numbers,
 * not the shape.
 */
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { ResponseCache, type Embedder } from '../../src/cache/index.ts'
import { SemanticIndex } from '../../src/cache/semantic-index.ts'

const ENTITIES = ['France', 'Japan', 'Brazil', 'Kenya', 'Canada', 'Norway', 'Egypt', 'Chile', 'India', 'Spain']
  .flatMap((c) => [c, `${c}'s largest city`])
  .slice(0, 20)
const ATTRIBUTES = ['population', 'capital', 'currency', 'official language', 'area']

export const BASE = (a: string, e: string): string => `What is the ${a} of ${e}?`
export const VARIANTS: ((a: string, e: string) => string)[] = [
  (a, e) => `Tell me the ${a} of ${e}.`,
  (a, e) => `what's the ${a} of ${e}`,
  (a, e) => `${e}: what is its ${a}?`,
  (a, e) => `Could you tell me what the ${a} of ${e} is?`,
  // In other words altogether: what a real embedding model is for, and a bag of words misses.
  (a, e) => SYNONYMS[a]?.(e) ?? `${a} ${e}`,
]

const SYNONYMS: Record<string, (e: string) => string> = {
  population: (e) => `How many people live in ${e}?`,
  capital: (e) => `Which city is the seat of government of ${e}?`,
  currency: (e) => `What money is used in ${e}?`,
  'official language': (e) => `Which language do people speak in ${e}?`,
  area: (e) => `How big is ${e} in square kilometres?`,
}

export interface Question {
  id: number
  attribute: string
  entity: string
}

export const QUESTIONS: Question[] = ENTITIES.flatMap((entity) => ATTRIBUTES.map((attribute) => ({ attribute, entity }))).map((q, id) => ({ id, ...q }))

const DIMS = 1024
const STOP = new Set(['what', "what's", 'is', 'its', 'the', 'of', 'tell', 'me', 'could', 'you', 'a', 'an'])

/** Bag of content words, hashed; `delayMs` stands for the round trip to a real embedding model. */
export function bagOfWords(calls: { n: number }, delayMs = 0): Embedder {
  return async (_model, input) => {
    calls.n++
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    const v = new Array<number>(DIMS).fill(0)
    for (const w of input.toLowerCase().match(/[a-z']+/g) ?? []) {
      if (STOP.has(w)) continue
      let h = 2166136261
      for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619)
      v[(h >>> 0) % DIMS] = (v[(h >>> 0) % DIMS] ?? 0) + 1
    }
    return v
  }
}

/** `i` in letters (the embedder reads only words): 0 → a, 26 → ba. */
export function letters(i: number): string {
  let s = ''
  do {
    s = String.fromCharCode(97 + (i % 26)) + s
    i = Math.floor(i / 26)
  } while (i > 0)
  return s
}

export const chatBody = (content: string): Record<string, unknown> => ({
  model: 'bench',
  temperature: 0,
  max_tokens: 64,
  messages: [{ role: 'user', content }],
})

export interface HitRate {
  threshold: number
  asked: number
  hits: number
  /** Hits that replayed another question's answer. */
  wrong: number
  /** Originals answered from another original while they were asked first (so never stored): wrong answers too. */
  wrongOriginals: number
  embeddings: number
  embedMsMean: number
}

/** Every base question stored (its answer names it), then every variant asked: how many hit, and how many hit the wrong answer. */
export async function hitRate(threshold: number): Promise<HitRate> {
  const calls = { n: 0 }
  const cache = new ResponseCache({ embed: bagOfWords(calls) }, { semantic: { embeddingModel: 'embed', threshold, maxEntries: 1000 } })
  const ask = async (content: string) =>
    cache.lookup({
      endpoint: 'chat',
      models: ['bench:default'],
      body: Buffer.from(JSON.stringify(chatBody(content))),
      stream: false,
      mode: 'default',
      keyScope: 'k',
      requestId: 'r',
      signal: new AbortController().signal,
    })
  let wrongOriginals = 0
  for (const q of QUESTIONS) {
    const ticket = await ask(BASE(q.attribute, q.entity))
    if (ticket.state === 'hit') wrongOriginals++
    if (ticket.state !== 'miss') continue
    const res = ticket.record({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: Readable.from([Buffer.from(`{"answer":${q.id}}`)]),
      servedBy: 'b',
    })
    await text(res.body)
  }
  let hits = 0
  let wrong = 0
  let asked = 0
  let embedMs = 0
  for (const q of QUESTIONS) {
    for (const variant of VARIANTS) {
      asked++
      const ticket = await ask(variant(q.attribute, q.entity))
      embedMs += ticket.state === 'bypass' ? 0 : (ticket.embedMs ?? 0)
      if (ticket.state !== 'hit') continue
      hits++
      if ((JSON.parse(ticket.entry.body.toString()) as { answer: number }).answer !== q.id) wrong++
    }
  }
  return { threshold, asked, hits, wrong, wrongOriginals, embeddings: calls.n, embedMsMean: embedMs / asked }
}

/** µs for one nearest-neighbour scan over `rows` rows of `dims` dimensions (all in one context: the worst case). */
export function scanCost(rows: number, dims: number, lookups = 200): number {
  const index = new SemanticIndex({ maxEntries: rows, ttlMs: 3_600_000, now: () => performance.now() })
  const vector = (seed: number): number[] => Array.from({ length: dims }, (_, i) => Math.sin(seed * 7919 + i))
  for (let r = 0; r < rows; r++) index.add(`k${r}`, 'ctx', vector(r))
  const probe = vector(rows + 1)
  const started = performance.now()
  for (let i = 0; i < lookups; i++) index.nearest('ctx', probe, 0.999, () => true)
  return ((performance.now() - started) * 1000) / lookups
}
