/**
 * The tenants component: API keys with model lists, rate limits, quotas and budgets, kept
 * in `HERD_HOME/keys.db` and replicated across the mesh (keys and per-key counters over
 * `/herd/tenants/1.0.0`), checked before routing. Others import it from here.
 *
 * @example
 * const tenants = new Tenants({ logger, nodeId: () => mesh.peerId }, { home })
 * await tenants.start()
 * createMesh({ …, services: [tenants.replication] }, …)
 * const id = tenants.identify(presentedKey)      // in auth
 * const admission = tenants.admit(tenant, route) // before routing; throws refusals
 */
export { Tenants, KEYS_DB } from './tenants.ts'
export type { Identified, TenantsComponents, TenantsEvents, TenantsInit } from './tenants.ts'
export { TenantRefusal, allowedRoute, estimateTokens, ROUTED_HEADER } from './gate.ts'
export type { Admission, AdmitOptions, SettledUsage, Tenant } from './gate.ts'
export { budgetState } from './budget.ts'
export { KeySecret, hashSecret, KEY_SECRET_PREFIX } from './secret.ts'
export { keyView, keyRecordSchema } from './record.ts'
export type { KeyBudget, KeyRecord } from './record.ts'
export { createKeyBody, updateKeyBody, parseBody, parseBudget, parseDuration, parseModels } from './parse.ts'
export type { KeyChanges } from './parse.ts'
export { TENANTS_PROTOCOL } from './wire.ts'
export type { KeyTotals } from './counters.ts'
export { COST_UNIT } from './limits.ts'
export { UsageLedger, USAGE_DB, USAGE_GROUPS } from './ledger.ts'
export type { LedgerEntry, UsageGroup, UsageQuery, UsageRow } from './ledger.ts'
