/**
 * How two versions of one key meet (on a node, from a peer, after a partition): revocation
 * wins over anything; otherwise the higher version; a tie goes to the larger `updated_by`
 * (node id), so every node picks the same one whatever order they arrive in. The rule is
 * a total order on versions, so replication converges: each node keeps the maximum.
 */
import type { KeyRecord } from './record.ts'

type Ordered = Pick<KeyRecord, 'revoked' | 'version' | 'updated_by'>

/** Positive when `a` wins over `b`, negative when `b` wins, 0 when they are the same version. */
export function compareVersions(a: Ordered, b: Ordered): number {
  if (a.revoked !== b.revoked) return a.revoked ? 1 : -1
  if (a.version !== b.version) return a.version - b.version
  return a.updated_by < b.updated_by ? -1 : a.updated_by > b.updated_by ? 1 : 0
}

/** Whether `incoming` should replace `held` (nothing held: always). */
export function supersedes(incoming: Ordered, held: Ordered | undefined): boolean {
  return held === undefined || compareVersions(incoming, held) > 0
}
