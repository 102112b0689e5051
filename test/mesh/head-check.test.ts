/**
 * The hand-written head checks stand in for the schemas only where the schemas agree:
 * whatever they accept, the schema accepts with the same result; and they accept the heads
 * herd itself sends. Thousands of mutated heads (wrong types, bounds crossed by one, extra
 * and odd keys, too many headers) are put to both.
 */
import { describe, expect, it } from 'vitest'
import { MAX_HEAD_HEADERS, MAX_HEADER_NAME_LENGTH, MAX_HEADER_VALUE_LENGTH, requestHeadSchema, responseHeadSchema } from '../../src/mesh/forward-messages.ts'
import { quickRequestHead, quickResponseHead } from '../../src/mesh/head-check.ts'

const request = {
  requestId: 'req-1',
  method: 'POST',
  path: '/v1/chat/completions',
  headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-herd-wait': '1764600000000' },
  hops: 1,
  bodyLength: 120,
}
const response = { status: 200, headers: { 'content-type': 'application/json', 'content-length': '712', 'x-herd-model': 'm:default' }, servedBy: 'b' }

/** Odd values of every kind, and values at and just past each bound. */
const ODD: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  '',
  '/',
  'x',
  '/'.padEnd(2048, 'p'),
  '/'.padEnd(2049, 'p'),
  'r'.repeat(128),
  'r'.repeat(129),
  'M'.repeat(16),
  'M'.repeat(17),
  [],
  {},
  { a: 1 },
  1,
  64,
  65,
  199,
  200,
  599,
  600,
  's'.repeat(256),
  's'.repeat(257),
]

const headerVariants: unknown[] = [
  ...ODD,
  { a: 'b' },
  { a: 1 },
  { ['n'.repeat(MAX_HEADER_NAME_LENGTH)]: 'v' },
  { ['n'.repeat(MAX_HEADER_NAME_LENGTH + 1)]: 'v' },
  { n: 'v'.repeat(MAX_HEADER_VALUE_LENGTH) },
  { n: 'v'.repeat(MAX_HEADER_VALUE_LENGTH + 1) },
  Object.fromEntries(Array.from({ length: MAX_HEAD_HEADERS }, (_, i) => [`h${i}`, 'v'])),
  Object.fromEntries(Array.from({ length: MAX_HEAD_HEADERS + 1 }, (_, i) => [`h${i}`, 'v'])),
  JSON.parse('{"__proto__":"x","a":"b"}') as unknown,
  JSON.parse('{"constructor":"x","toString":"y"}') as unknown,
  Object.create(null) as unknown,
  new Map([['a', 'b']]),
]

/** The base head with one field set to each variant (or removed), plus an extra key. */
function mutations(base: Record<string, unknown>): unknown[] {
  const out: unknown[] = [base, { ...base, extra: 'dropped' }, JSON.parse(JSON.stringify({ ...base, __proto__: 'x' })) as unknown, ...ODD]
  for (const key of Object.keys(base)) {
    const variants = key === 'headers' ? headerVariants : ODD
    for (const v of variants) out.push({ ...base, [key]: v })
    const { [key]: _gone, ...without } = base
    out.push(without)
  }
  return out
}

describe('hand-written head checks', () => {
  for (const [name, base, quick, schema] of [
    ['request head', request, quickRequestHead, requestHeadSchema],
    ['response head', response, quickResponseHead, responseHeadSchema],
  ] as const) {
    it(`${name}: whatever the quick check takes, the schema takes with the same result`, () => {
      let taken = 0
      let left = 0
      for (const value of mutations(base)) {
        const quickly = (quick as (v: unknown) => unknown)(value)
        const result = (schema as { safeParse(v: unknown): { success: boolean; data?: unknown } }).safeParse(value)
        if (quickly === undefined) {
          left++
          continue
        }
        taken++
        expect(result.success, JSON.stringify(value)?.slice(0, 200)).toBe(true)
        expect(quickly).toStrictEqual(result.data)
      }
      // Both sides are exercised: the common heads go the quick way, the odd ones to the schema.
      expect(taken).toBeGreaterThan(10)
      expect(left).toBeGreaterThan(50)
    })

    it(`${name}: takes the heads herd sends, as they travel (JSON)`, () => {
      const value = JSON.parse(JSON.stringify(base)) as unknown
      expect((quick as (v: unknown) => unknown)(value)).toStrictEqual(base)
    })
  }

  it('leaves to the schema what it refuses, so the refusal names the field', () => {
    expect(quickRequestHead({ ...request, hops: 0 })).toBeUndefined()
    expect(quickRequestHead({ ...request, headers: { a: 1 } })).toBeUndefined()
    expect(quickResponseHead({ ...response, status: 101 })).toBeUndefined()
  })
})
