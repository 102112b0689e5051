import { describe, expect, it } from 'vitest'
import { TailFields, type TailField } from '../../src/router/tail-fields.ts'

const lastNumberField = (text: string, fields: readonly TailField[], fraction?: boolean): number | undefined => new TailFields(text).last(fields, fraction)

describe('TailFields', () => {
  const tail = 'data: {"usage":{"prompt_tokens":3}}\n\ndata: {"timings":{"prompt_n":5,"predicted_n": 7,"predicted_ms":12.5},"usage":{"prompt_tokens" : 9}}\n\n'
  it('finds the last value of a field, spaces around the colon allowed', () => {
    expect(lastNumberField(tail, ['prompt_tokens'])).toBe(9)
    expect(lastNumberField(tail, ['predicted_n'])).toBe(7)
  })
  it('takes the whole part of a count, and the fraction only when asked', () => {
    expect(lastNumberField(tail, ['predicted_ms'])).toBe(12)
    expect(lastNumberField(tail, ['predicted_ms'], true)).toBe(12.5)
  })
  it('picks whichever of several names comes last', () => {
    expect(lastNumberField(tail, ['prompt_n', 'prompt_tokens'])).toBe(9)
    expect(lastNumberField('{"input_tokens":4}', ['prompt_tokens', 'input_tokens'])).toBe(4)
  })
  it('reads every field of one tail in one pass', () => {
    const fields = new TailFields(tail)
    expect([fields.last(['prompt_tokens']), fields.last(['predicted_n']), fields.last(['prompt_n']), fields.last(['completion_tokens'])]).toEqual([
      9,
      7,
      5,
      undefined,
    ])
  })
  it('does not take a name escaped inside a string for a field', () => {
    expect(lastNumberField('{"content":"say \\"prompt_tokens\\": 99"}', ['prompt_tokens'])).toBeUndefined()
  })
  it('skips a name without a number after it, and says undefined when none has one', () => {
    expect(lastNumberField('{"predicted_n":2} {"predicted_n":"x"}', ['predicted_n'])).toBe(2)
    expect(lastNumberField('{"predicted_n":null}', ['predicted_n'])).toBeUndefined()
    expect(lastNumberField('', ['predicted_n'])).toBeUndefined()
  })
})
