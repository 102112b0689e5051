/**
 * Which pool serves a profile id, and what a cookbook reload does to the pools: a removed
 * profile's pool retires (refuses new work, stops when idle); changed launch args retire the
 * old pool into a fresh one that takes over its waiters; other changes (limits) apply in place.
 */
import type { ProfileSpec } from '../config/types.ts'
import { HerdError } from '../errors/index.ts'
import type { ProfilePool } from './pool.ts'

export class PoolRegistry {
  private readonly active = new Map<string, ProfilePool>()
  private readonly retiring = new Set<ProfilePool>()
  private readonly create: (spec: ProfileSpec) => ProfilePool
  /** The cookbook's profiles; undefined until the first setProfiles (then acquire's spec is trusted). */
  private profiles: Map<string, ProfileSpec> | undefined

  constructor(create: (spec: ProfileSpec) => ProfilePool) {
    this.create = create
  }

  setProfiles(profiles: readonly ProfileSpec[]): void {
    this.profiles = new Map(profiles.map((p) => [p.id, p]))
    for (const [id, pool] of [...this.active]) {
      const spec = this.profiles.get(id)
      if (spec === undefined) this.retire(pool, undefined)
      else if (spec.launchHash !== pool.spec.launchHash) this.retire(pool, this.create(spec))
      else if (spec !== pool.spec) {
        pool.spec = spec
        pool.pump()
      }
    }
  }

  /** The pool for a request; the cookbook's current spec wins over the caller's copy. */
  poolFor(profile: ProfileSpec): ProfilePool {
    const spec = this.profiles === undefined ? profile : this.profiles.get(profile.id)
    if (spec === undefined) throw new HerdError('draining', `'${profile.id}' is no longer in this node's cookbook`)
    const pool = this.active.get(spec.id)
    if (pool !== undefined && pool.spec.launchHash === spec.launchHash) return pool
    const fresh = this.create(spec)
    if (pool !== undefined) this.retire(pool, fresh)
    else this.active.set(spec.id, fresh)
    return fresh
  }

  /** A retiring pool's last instance is gone. */
  forget(pool: ProfilePool): void {
    this.retiring.delete(pool)
  }

  /** Profile ids to report load for: the cookbook's, and any served without one. */
  ids(): string[] {
    return [...new Set([...(this.profiles?.keys() ?? []), ...this.active.keys()])]
  }

  activePool(id: string): ProfilePool | undefined {
    return this.active.get(id)
  }

  *all(): Iterable<ProfilePool> {
    yield* this.active.values()
    yield* this.retiring
  }

  clear(): void {
    this.active.clear()
    this.retiring.clear()
  }

  private retire(pool: ProfilePool, successor: ProfilePool | undefined): void {
    this.active.delete(pool.spec.id)
    if (successor !== undefined) this.active.set(successor.spec.id, successor)
    this.retiring.add(pool)
    pool.retire(successor)
  }
}
