/**
 * The leader lease behind `readOnly: "lease"` (thesis 6.4.1). A follower with check-quorum refuses
 * votes for `electionTicks` after it last heard the leader, so no other server can win an election
 * until `electionTicks` after the leader SENT a heartbeat that a quorum of voters answered. Until
 * then the leader may answer reads from its commit index without a round.
 *
 * The leader counts its own ticks; each lease-mode heartbeat round carries a fresh sequence number
 * (the heartbeat `context`, shared with ReadIndex rounds) whose send tick is remembered. The lease
 * runs from the send tick of the newest round a quorum answered, for `electionTicks - 1` ticks
 * (one tick less: ticks of different servers are not in phase). Correct only while clocks tick at
 * the same rate within that margin: the bounded-drift assumption the option documents.
 */
import { hasQuorum } from "./quorum.js";
import type { NodeId } from "./types.js";

/** Lease bookkeeping of one leadership. */
export class LeaderLease {
  /** Ticks since this server became leader. */
  #ticks = 0;
  /** Send tick of each recent round, by sequence number. */
  readonly #sentAt = new Map<number, number>();
  /** Highest round sequence each peer answered. */
  readonly #acked = new Map<NodeId, number>();

  tick(): void {
    this.#ticks++;
  }

  /** A heartbeat round with sequence `seq` is being sent now. */
  sent(seq: number): void {
    this.#sentAt.set(seq, this.#ticks);
  }

  /** `from` answered the round `seq`. */
  acked(from: NodeId, seq: number): void {
    if (seq > (this.#acked.get(from) ?? -1)) this.#acked.set(from, seq);
  }

  /**
   * True while a quorum of `voters` answered a round sent fewer than `electionTicks - 1` ticks ago
   * (`self` counts as answering every round). Forgets rounds too old to matter.
   */
  valid(self: NodeId, voters: readonly NodeId[], electionTicks: number): boolean {
    const horizon = this.#ticks - (electionTicks - 1);
    for (const [seq, at] of this.#sentAt) if (at <= horizon) this.#sentAt.delete(seq);
    for (const [seq] of this.#sentAt) {
      const confirmed = hasQuorum(voters, (id) => id === self || (this.#acked.get(id) ?? -1) >= seq);
      if (confirmed) return true; // rounds are in send order: the oldest live one confirmed is enough
    }
    return false;
  }
}
