/** Builders for the tenants tests: records, a started in-memory Tenants, a silent logger. */
import { pino } from 'pino'
import { Tenants, type KeyRecord, type TenantsInit } from '../../src/tenants/index.ts'

export const logger = pino({ level: process.env.HERD_TEST_LOG ?? 'silent' })

let n = 0
export function record(over: Partial<KeyRecord> = {}): KeyRecord {
  n += 1
  const hex = n.toString(16).padStart(24, '0')
  return {
    id: `key_${hex}`,
    name: `key-${n}`,
    hash: hex.padStart(64, 'a'),
    models: [],
    rpm: null,
    tpm: null,
    tokens_per_day: null,
    tokens_per_month: null,
    budget: null,
    no_egress: false,
    expires_at: null,
    version: 1,
    revoked: false,
    created_at: 1_700_000_000_000,
    updated_at: 1_700_000_000_000,
    updated_by: 'node-a',
    ...over,
  }
}

/** A started Tenants on an in-memory store with a clock the test moves. */
export async function memoryTenants(
  init: Partial<TenantsInit> = {},
  clock = { now: 1_700_000_000_000 },
): Promise<{ tenants: Tenants; clock: { now: number } }> {
  const tenants = new Tenants({ logger, nodeId: () => 'node-a', now: () => clock.now }, { home: ':memory:', ...init })
  await tenants.start()
  return { tenants, clock }
}
