/**
 * Requests this node has sent to each peer since that peer's last state. A peer's state
 * is up to a heartbeat old; counting our own recent sends against it keeps a burst from
 * all landing on the one peer that looked idle.
 */
export class PendingCounter {
  private readonly byPeer = new Map<string, { seq: number; count: number }>()

  /** One more request sent to a peer whose latest state had this `seq`. */
  add(peerId: string, seq: number): void {
    const entry = this.byPeer.get(peerId)
    if (entry && entry.seq === seq) entry.count++
    else this.byPeer.set(peerId, { seq, count: 1 })
  }

  /** Sends since the state with this `seq`; a newer state already reflects earlier sends. */
  count(peerId: string, seq: number): number {
    const entry = this.byPeer.get(peerId)
    return entry && entry.seq === seq ? entry.count : 0
  }

  forget(peerId: string): void {
    this.byPeer.delete(peerId)
  }
}
