/**
 * The contract of the Raft core (etcd-raft's `RawNode`): a pure, deterministic state machine.
 * Inputs are method calls; outputs leave only through {@link Ready}. No I/O, no timers, no clock,
 * no ambient randomness: the same config, seed and inputs give the same outputs.
 *
 * Driver loop:
 * ```ts
 * every tick ms:       core.tick();
 * on a message:        core.step(decodeMessage(bytes));
 * on a client request: core.propose(data) / core.readIndex(ctx) / ...
 * then, while (core.hasReady()) { const rd = core.ready(); persist(rd); send(rd.messages);
 *                                 apply(rd.committed); serve(rd.readStates); core.advance(rd); }
 * ```
 */
import type { Message, Proposal } from "./messages.js";
import type { Ready } from "./ready.js";
import type { ConfChange, ConfState, HardState, LogIndex, NodeId, RoleKind, Term } from "./types.js";

/**
 * Why a request was not taken. These are expected outcomes, not bugs:
 * - `no-leader`: a follower knows no leader to forward to (retry later);
 * - `forwarding-disabled`: a follower with `disableProposalForwarding`;
 * - `transferring`: the leader is handing leadership over and takes no proposal meanwhile;
 * - `uncommitted-limit`: `maxUncommittedBytes` reached;
 * - `conf-change-pending`: a membership change is already in progress (one at a time);
 * - `invalid-conf-change`: the change makes no sense for the current membership (names why in `detail`);
 * - `not-member`: this server was removed, or is a learner asked to do a voter's job.
 */
export type Refusal =
  | "no-leader"
  | "forwarding-disabled"
  | "transferring"
  | "uncommitted-limit"
  | "conf-change-pending"
  | "invalid-conf-change"
  | "not-member";

/** Outcome of a request: accepted (maybe forwarded: no promise it commits), or refused and why. */
export type RequestResult = { readonly ok: true } | { readonly ok: false; readonly reason: Refusal; readonly detail?: string };

/** Replication progress of one peer as the leader sees it (thesis 3.5; etcd-raft `Progress`). */
export interface PeerProgress {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: "probe" | "replicate" | "snapshot";
  readonly recentActive: boolean;
  readonly inflight: number;
}

/** A snapshot of the core's state, for tests, metrics and `status()`. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: RoleKind;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly lastIndex: LogIndex;
  readonly conf: ConfState;
  /** Set on the leader only. */
  readonly progress: ReadonlyMap<NodeId, PeerProgress> | null;
  /** Set while a leadership transfer is under way. */
  readonly transferee: NodeId | null;
}

export interface RaftCore {
  /** One unit of logical time: drives election timeouts, heartbeats and check-quorum. */
  tick(): void;
  /** Feeds a message from the network. Messages of stale terms, duplicates and reorderings are handled. */
  step(message: Message): void;
  /** Proposes a normal entry; forwarded to the leader from a follower. */
  propose(data: Uint8Array): RequestResult;
  /** Several proposals at once (appended as one batch on the leader). */
  proposeBatch(proposals: readonly Proposal[]): RequestResult;
  /** Proposes one membership change (thesis 4.1: one server at a time). */
  proposeMembershipChange(change: ConfChange): RequestResult;
  /**
   * Asks for a linearizable read point (thesis 6.4). A ReadState with the same `context` appears
   * in a later Ready once leadership is confirmed; serve the read after applying its index.
   */
  readIndex(context: Uint8Array): RequestResult;
  /** Hands leadership to `to` (thesis 3.10); forwarded to the leader from a follower. */
  transferLeadership(to: NodeId): RequestResult;
  /** Starts an election now (pre-vote first when enabled), as if the election timer fired. */
  campaign(): void;
  /**
   * The driver has strong reason to believe this follower's leader is gone (its connection
   * closed): the follower forgets it, staying a follower of its term. A follower that knows no
   * leader grants pre-votes at once, so when a quorum of followers forgot a dead leader, the first
   * of them to {@link campaign} wins without waiting out the election timeout (etcd-raft's
   * `ForgetLeader`). Hearing the leader again restores it. Returns false, doing nothing, unless
   * this is a follower that knows a leader, and always with `readOnly: "lease"` (a leader's lease
   * relies on its followers not voting before an election timeout passed).
   */
  forgetLeader(): boolean;
  /** The driver could not reach `peer`: the leader goes back to probing it. */
  reportUnreachable(peer: NodeId): void;
  /** True when {@link ready} would hand out anything. */
  hasReady(): boolean;
  /** Everything to do, in order (see {@link Ready}). Call {@link advance} with it when done. */
  ready(): Ready;
  /** The driver finished everything in `ready` (persisted, sent, applied). */
  advance(ready: Ready): void;
  /** Current state, for tests and status. */
  status(): RaftStatus;
  /** The hard state as of now (persisted or about to be). */
  hardState(): HardState;
}
