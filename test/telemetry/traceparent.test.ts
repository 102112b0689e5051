import { describe, expect, it } from 'vitest'
import { formatTraceparent, MAX_TRACEPARENT_LENGTH, MAX_TRACESTATE_LENGTH, parseTraceparent, parseTracestate } from '../../src/telemetry/index.ts'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN = '00f067aa0ba902b7'

describe('parseTraceparent', () => {
  it('reads a version 00 header, with its sampled flag and a valid tracestate', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      flags: 1,
      traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    })
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 0 })
  })

  it('accepts a later version with fields appended, as the spec asks', () => {
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`)?.traceId).toBe(TRACE)
  })

  it.each([
    ['nothing', undefined],
    ['a number', 42],
    ['a repeated header (array)', [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`]],
    ['empty', ''],
    ['garbage', 'not a traceparent'],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['a long span id', `00-${TRACE}-${SPAN}0-01`],
    ['the all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['the all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with a fifth field', `00-${TRACE}-${SPAN}-01-extra`],
    ['control bytes', `00-${TRACE}-${SPAN}-01\r\nx-evil: 1`],
    ['over the length bound', `cc-${TRACE}-${SPAN}-01-${'a'.repeat(MAX_TRACEPARENT_LENGTH)}`],
  ])('ignores %s', (_what, value) => {
    expect(parseTraceparent(value)).toBeUndefined()
  })

  it('keeps a valid traceparent when only its tracestate is bad', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`, 'bad key=1')).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 })
  })
})

describe('parseTracestate', () => {
  it('drops empty members and keeps the rest in order', () => {
    expect(parseTracestate('a=1, ,b@vendor=2')).toBe('a=1,b@vendor=2')
  })

  it.each([
    ['an upper-case key', 'A=1'],
    ['a member without a value', 'a='],
    ['a value with an equals sign', 'a=b=c'],
    ['only commas', ',,'],
    ['more than 32 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['over the length bound', `a=${'x'.repeat(MAX_TRACESTATE_LENGTH)}`],
    ['not a string', ['a=1']],
  ])('drops the whole header for %s', (_what, value) => {
    expect(parseTracestate(value)).toBeUndefined()
  })
})

describe('formatTraceparent', () => {
  it('writes what parseTraceparent reads', () => {
    const header = formatTraceparent(TRACE, SPAN, 1)
    expect(header).toBe(`00-${TRACE}-${SPAN}-01`)
    expect(parseTraceparent(header)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 })
  })
})
