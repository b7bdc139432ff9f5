/**
 * Raft messages between servers, as a tagged union (STYLE.md section 4). Every message carries
 * the sender, the receiver and the sender's term; the codec (`codec.ts`) turns them into bytes.
 *
 * Local requests (propose, readIndex, transferLeadership, proposeMembershipChange) are methods of
 * the core, not messages; only what crosses the network is here. Followers forward proposals,
 * read requests and transfer requests to the leader with `propose`, `read-index` and
 * `transfer-leader`.
 */
import type { ConfChange, Entry, LogIndex, NodeId, SnapshotMeta, Term } from "./types.js";

/** Fields every message has. */
export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /**
   * The sender's current term; 0 only for the term-less `propose`, `read-index`, `read-index-resp`
   * and `transfer-leader` (etcd-raft: local messages), which the receiver handles whatever its term.
   */
  readonly term: Term;
}

export type Message = Envelope &
  (
    | {
        /**
         * RequestVote (paper 5.2, 5.4.1) or its pre-vote (thesis 9.6). A pre-vote carries the
         * term the sender WOULD campaign at and changes no state at the receiver.
         */
        readonly type: "vote" | "pre-vote";
        readonly lastIndex: LogIndex;
        readonly lastTerm: Term;
        /** True when sent because of a leadership transfer (thesis 3.10): bypasses the leader lease. */
        readonly transfer: boolean;
      }
    | { readonly type: "vote-resp" | "pre-vote-resp"; readonly reject: boolean }
    | {
        /** AppendEntries (paper 5.3): entries after (prevIndex, prevTerm), and the leader's commit. */
        readonly type: "append";
        readonly prevIndex: LogIndex;
        readonly prevTerm: Term;
        readonly entries: readonly Entry[];
        readonly commit: LogIndex;
      }
    | {
        /**
         * Reply to `append`. Accepted: `index` is the last index now known to match the leader.
         * Rejected: `index` is the rejected prevIndex, and (`hintIndex`, `hintTerm`) let the leader
         * skip back a whole term at once (paper 5.3, "optimization").
         */
        readonly type: "append-resp";
        readonly reject: boolean;
        readonly index: LogIndex;
        readonly hintIndex: LogIndex;
        readonly hintTerm: Term;
      }
    | {
        /** Leader liveness and commit propagation; `context` is set for a ReadIndex round (thesis 6.4). */
        readonly type: "heartbeat";
        readonly commit: LogIndex;
        readonly context: Uint8Array | null;
      }
    | { readonly type: "heartbeat-resp"; readonly context: Uint8Array | null }
    | {
        /**
         * One chunk of InstallSnapshot (paper 7, figure 13): bytes [offset, offset + data.length) of
         * the snapshot described by `meta`; `done` on the last chunk.
         */
        readonly type: "snapshot";
        readonly meta: SnapshotMeta;
        readonly offset: number;
        readonly data: Uint8Array;
        readonly done: boolean;
      }
    | {
        /**
         * Reply to a snapshot chunk that is not the last: `offset` is the number of bytes the
         * follower holds of the snapshot at `index` (the next chunk it wants); `reject` when the
         * chunk did not continue what it holds (resume from `offset`). The last chunk, and a
         * stale snapshot, are answered with an `append-resp` for the follower's new last index
         * (or its commit index) instead (see snapshot-transfer.ts).
         */
        readonly type: "snapshot-resp";
        readonly index: LogIndex;
        readonly offset: number;
        readonly reject: boolean;
      }
    | {
        /** Leadership transfer (thesis 3.10): campaign now, ignoring the election timer and lease. */
        readonly type: "timeout-now";
      }
    | {
        /** A follower forwarding client proposals to the leader (entries carry no term or index yet). */
        readonly type: "propose";
        readonly proposals: readonly Proposal[];
      }
    | { readonly type: "read-index"; readonly context: Uint8Array }
    | {
        /** The leader's answer to a forwarded `read-index`: safe once `index` is applied. */
        readonly type: "read-index-resp";
        readonly index: LogIndex;
        readonly context: Uint8Array;
      }
    | { readonly type: "transfer-leader"; readonly target: NodeId }
  );

/** What a client proposes; the leader turns it into an {@link Entry} with its term and an index. */
export type Proposal =
  | { readonly kind: "normal"; readonly data: Uint8Array }
  | { readonly kind: "conf-change"; readonly change: ConfChange };

/** The `type` tags of {@link Message}. */
export type MessageType = Message["type"];

/** The message of type `T`. */
export type MessageOf<T extends MessageType> = Message & { readonly type: T };
