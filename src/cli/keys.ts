/**
 * `herd keys create | list | show | update | revoke`: tenant keys on a running node, through
 * its `/admin/keys` (an admin key: `--key`, or the config's). The secret is printed once, by
 * `create`; no command can show it again.
 */
import { parseBudget, parseDuration, parseModels, type KeyBudget } from '../tenants/index.ts'
import { nodeClient, type NodeClient } from './client.ts'
import { table } from './table.ts'
import { parseCommandArgs, UsageError } from './usage.ts'

interface KeyView {
  id: string
  name: string
  models: string[]
  rpm: number | null
  tpm: number | null
  tokens_per_day: number | null
  tokens_per_month: number | null
  budget: KeyBudget | null
  no_egress: boolean
  expires_at: string | null
  status: string
  version: number
  created_at: string
  updated_at: string
  updated_by: string
}

const FLAGS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  name: { type: 'string' },
  models: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'tokens-per-day': { type: 'string' },
  'tokens-per-month': { type: 'string' },
  budget: { type: 'string' },
  'budget-action': { type: 'string' },
  'no-egress': { type: 'boolean' },
  egress: { type: 'boolean' },
  expires: { type: 'string' },
} as const

export async function keysCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseCommandArgs('keys', args, FLAGS, true)
  const [sub, target, ...extra] = positionals
  if (extra.length > 0) throw new UsageError('keys', `unexpected '${extra.join(' ')}'`)
  const needsTarget = sub === 'show' || sub === 'update' || sub === 'revoke'
  if (sub === undefined || !['create', 'list', 'show', 'update', 'revoke'].includes(sub))
    throw new UsageError('keys', `expected create, list, show, update or revoke`)
  if (needsTarget && target === undefined) throw new UsageError('keys', `${sub} needs a key id or name`)
  if (!needsTarget && target !== undefined) throw new UsageError('keys', `unexpected '${target}'`)
  const changes = fields(values)
  if (sub === 'create' && changes['name'] === undefined) throw new UsageError('keys', 'create needs --name')
  const client = await nodeClient(values)
  try {
    switch (sub) {
      case 'create': {
        const made = (await client.call('POST', '/admin/keys', changes)) as { key: KeyView; secret: string }
        if (values.json) return write(out, made)
        out.write(
          `created ${made.key.id} (${made.key.name})\n\n  ${made.secret}\n\nThis secret is shown only now: store it. Clients send it as Authorization: Bearer <secret> (or x-api-key).\n`,
        )
        return 0
      }
      case 'list': {
        const { keys } = (await client.call('GET', `/admin/keys${values.all ? '?all=true' : ''}`)) as { keys: KeyView[] }
        if (values.json) return write(out, keys)
        out.write(
          table(
            ['ID', 'NAME', 'MODELS', 'RPM', 'TPM', 'TOKENS/DAY', 'TOKENS/MONTH', 'BUDGET', 'EGRESS', 'EXPIRES', 'STATUS'],
            keys.map((k) => [
              k.id,
              k.name,
              k.models.length === 0 ? '*' : k.models.join(','),
              k.rpm,
              k.tpm,
              k.tokens_per_day,
              k.tokens_per_month,
              budgetText(k.budget),
              k.no_egress ? 'no' : 'yes',
              k.expires_at ?? 'never',
              k.status,
            ]),
          ),
        )
        return 0
      }
      case 'show': {
        const id = await resolve(client, target as string)
        const shown = (await client.call('GET', `/admin/keys/${id}`)) as { key: KeyView; usage: Record<string, number> }
        if (values.json) return write(out, shown)
        const k = shown.key
        const rows: [string, unknown][] = [
          ['id', k.id],
          ['name', k.name],
          ['status', k.status],
          ['models', k.models.length === 0 ? '* (any)' : k.models.join(', ')],
          ['rpm', k.rpm],
          ['tpm', k.tpm],
          ['tokens per day', k.tokens_per_day],
          ['tokens per month', k.tokens_per_month],
          ['budget', budgetText(k.budget)],
          ['egress', k.no_egress ? 'no (never a backend outside the network)' : 'yes'],
          ['expires', k.expires_at ?? 'never'],
          ['version', `${k.version} (${k.updated_at} by ${k.updated_by})`],
          ['created', k.created_at],
          [
            'use (mesh-wide)',
            `${shown.usage['requests']} requests, ${shown.usage['tokens']} tokens in the last ${(shown.usage['window_ms'] ?? 0) / 1000} s; ${shown.usage['tokens_today']} tokens today, ${shown.usage['tokens_this_month']} this month`,
          ],
        ]
        out.write(
          table(
            ['FIELD', 'VALUE'],
            rows.map(([f, v]) => [f, v === null ? '-' : String(v)]),
          ),
        )
        return 0
      }
      case 'update': {
        const id = await resolve(client, target as string)
        const { key } = (await client.call('PATCH', `/admin/keys/${id}`, changes)) as { key: KeyView }
        if (values.json) return write(out, key)
        out.write(`updated ${key.id} (${key.name}) to version ${key.version}\n`)
        return 0
      }
      case 'revoke': {
        const id = await resolve(client, target as string)
        const { key } = (await client.call('DELETE', `/admin/keys/${id}`)) as { key: KeyView }
        if (values.json) return write(out, key)
        out.write(`revoked ${key.id} (${key.name}); every node refuses it within two heartbeats\n`)
        return 0
      }
    }
  } finally {
    await client.close()
  }
  return 2
}

type Values = { [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string }

/** The flags as an admin API body (only what was given). */
function fields(v: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const number = (flag: keyof Values, field: string): void => {
    const text = v[flag]
    if (typeof text !== 'string') return
    if (text === 'none' || text === 'off') out[field] = null
    else if (/^\d+$/.test(text) && Number(text) > 0) out[field] = Number(text)
    else throw new UsageError('keys', `--${flag} takes a positive whole number (or none), not '${text}'`)
  }
  if (v.name !== undefined) out['name'] = v.name
  if (v.models !== undefined) out['models'] = parseModels(v.models)
  number('rpm', 'rpm')
  number('tpm', 'tpm')
  number('tokens-per-day', 'tokens_per_day')
  number('tokens-per-month', 'tokens_per_month')
  const action = v['budget-action']
  if (action !== undefined && action !== 'block' && action !== 'downgrade')
    throw new UsageError('keys', `--budget-action is block or downgrade, not '${action}'`)
  if (v.budget !== undefined) out['budget'] = v.budget === 'none' ? null : usage(() => parseBudget(v.budget as string, action ?? 'block'))
  if (v['no-egress'] && v.egress) throw new UsageError('keys', '--no-egress and --egress contradict each other')
  if (v['no-egress']) out['no_egress'] = true
  if (v.egress) out['no_egress'] = false
  if (v.expires !== undefined) {
    if (v.expires === 'never') out['expires_at'] = null
    else if (/^\d+(\.\d+)?(ms|s|m|h|d|w)$/.test(v.expires)) {
      usage(() => parseDuration(v.expires as string))
      out['expires_in'] = v.expires
    } else if (!Number.isNaN(Date.parse(v.expires))) out['expires_at'] = new Date(v.expires).toISOString()
    else throw new UsageError('keys', `--expires takes a duration (30d), a date (2026-01-31) or never, not '${v.expires}'`)
  }
  return out
}

function usage<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err: unknown) {
    throw new UsageError('keys', err instanceof Error ? err.message : String(err))
  }
}

/** A key id as given, or the id of the one key with that name. */
async function resolve(client: NodeClient, target: string): Promise<string> {
  if (/^key_[0-9a-f]{24}$/.test(target)) return target
  const { keys } = (await client.call('GET', '/admin/keys?all=true')) as { keys: KeyView[] }
  const named = keys.filter((k) => k.name === target)
  const live = named.filter((k) => k.status !== 'revoked')
  const pick = live.length > 0 ? live : named
  if (pick.length === 1 && pick[0] !== undefined) return pick[0].id
  if (pick.length === 0) throw new Error(`no key named '${target}' (herd keys list --all shows them)`)
  throw new Error(`${pick.length} keys are named '${target}': give the id (${pick.map((k) => k.id).join(', ')})`)
}

function budgetText(b: KeyBudget | null): string {
  return b === null ? '-' : `${b.amount}${b.currency}/${b.period}${b.action === 'block' ? '' : ` (${b.action})`}`
}

function write(out: NodeJS.WritableStream, value: unknown): number {
  out.write(JSON.stringify(value, null, 2) + '\n')
  return 0
}
