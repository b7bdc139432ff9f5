/**
 * Configuration of one Raft server (etcd-raft's `Config`). Times are ticks: the driver decides
 * how many milliseconds one tick is.
 */
import type { Rng } from "../../rng.js";
import type { RaftStorage } from "./storage.js";
import type { LogIndex, NodeId } from "./types.js";

export interface RaftConfig {
  readonly id: NodeId;
  /** Read-only view of the durable log; see {@link RaftStorage}. */
  readonly storage: RaftStorage;
  /** Election jitter. Inject a seeded generator (STYLE.md section 2). */
  readonly rng: Rng;
  /**
   * A follower that hears no leader for a random number of ticks in
   * [electionTicks, 2 * electionTicks) campaigns (paper 5.2). Must be > heartbeatTicks.
   */
  readonly electionTicks: number;
  /** A leader sends heartbeats every `heartbeatTicks` ticks. */
  readonly heartbeatTicks: number;
  /**
   * Last index the state machine applied (on restart); committed entries after it are handed out
   * again. Default: the storage's snapshot index. Above the stored commit index it raises it
   * (only committed entries are ever applied); beyond the last log index it is refused.
   */
  readonly applied?: LogIndex;
  /** Pre-vote (thesis 9.6). Default true. */
  readonly preVote?: boolean;
  /**
   * Check-quorum (thesis 6.2): a leader that hears from no quorum within an election timeout
   * steps down, and followers ignore votes while they have a live leader. Default true.
   */
  readonly checkQuorum?: boolean;
  /**
   * "safe" (default): ReadIndex confirms leadership with a heartbeat round (thesis 6.4).
   * "lease": the leader answers from its lease without a round (thesis 6.4.1); requires
   * checkQuorum (refused otherwise) and is only correct while clock drift between servers is
   * bounded. During a leadership transfer lease reads fall back to a round.
   */
  readonly readOnly?: "safe" | "lease";
  /** Max payload bytes of entries in one append message (at least one entry is always sent; 0 = one per message). Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** Max append messages in flight to one follower before waiting for acks. Default 256. */
  readonly maxInflightMessages?: number;
  /** Max payload bytes in flight to one follower (0 = no limit). Default 0. */
  readonly maxInflightBytes?: number;
  /**
   * Max payload bytes of uncommitted entries a leader holds; proposals beyond it are dropped
   * (so a leader without a quorum can't grow memory without bound). 0 = no limit. Default 0.
   */
  readonly maxUncommittedBytes?: number;
  /**
   * Max payload bytes of committed entries handed out in one Ready (at least one entry; 0 = no
   * limit), so a server catching up applies a long log in bounded steps. Default 64 MiB.
   */
  readonly maxCommittedBytesPerReady?: number;
  /** Bytes per InstallSnapshot chunk. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
  /** When true, a follower drops proposals instead of forwarding them to the leader. Default false. */
  readonly disableProposalForwarding?: boolean;
}
