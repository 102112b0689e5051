/**
 * Every field of an object being converted has a rule: mapped (the converter carries it
 * across), dropped on purpose (it cannot change the answer, and why is written down), or
 * refused (a 400 naming it, unless it holds its neutral value). A field without a rule is
 * refused too, so a field a protocol adds later is never dropped silently. The tables
 * are exported: SPEC.md ("Protocol conversion") lists the same fields, and a test checks it.
 */
import { isAbsent, key, refuse, type JsonObject } from './read.ts'

export type FieldRule =
  | { readonly kind: 'mapped' }
  | { readonly kind: 'dropped'; readonly why: string }
  | { readonly kind: 'refused'; readonly neutral?: (value: unknown) => boolean; readonly hint?: string }

export type FieldRules = Readonly<Record<string, FieldRule>>

export const mapped: FieldRule = { kind: 'mapped' }
export const dropped = (why: string): FieldRule => ({ kind: 'dropped', why })
/** Refused unless absent, null, or `neutral(value)` (the value that asks for nothing: `n: 1`). */
export const refused = (neutral?: (value: unknown) => boolean, hint?: string): FieldRule => ({
  kind: 'refused',
  ...(neutral ? { neutral } : {}),
  ...(hint ? { hint } : {}),
})

/**
 * Throws `invalid_request` naming the first field of `obj` (at `path`) that `rules` refuse
 * or do not know; `target` names the protocol the conversion goes to, for the message.
 */
export function checkFields(obj: JsonObject, rules: FieldRules, path: string, target: string): void {
  for (const [name, value] of Object.entries(obj)) {
    const rule = Object.hasOwn(rules, name) ? rules[name] : undefined
    const param = key(path, name)
    if (rule === undefined) refuse(param, `'${param}' is not a field herd can convert to ${target}`)
    if (rule.kind !== 'refused' || isAbsent(value) || rule.neutral?.(value) === true) continue
    refuse(param, `'${param}' cannot be expressed in ${target}${rule.hint ? `: ${rule.hint}` : ''}`)
  }
}
