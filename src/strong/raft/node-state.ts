/**
 * The mutable state of one Raft server, shared by the step, election, replication and membership
 * modules (which are free functions over it). Roles are a tagged union (STYLE.md section 5):
 * leader-only state exists only inside the `leader` role.
 */
import type { LeaderLease } from "./lease.js";
import type { Message } from "./messages.js";
import { isVoter, type ConfTracker } from "./membership.js";
import type { Progress } from "./progress.js";
import type { RaftLog } from "./raft-log.js";
import type { ReadOnlyQueue } from "./read-only.js";
import type { ResolvedConfig } from "./resolve-config.js";
import type { IncomingSnapshot } from "./snapshot-transfer.js";
import type { ConfState, HardState, NodeId, ReadState, SoftState, Term } from "./types.js";

/** A read request waiting for the leader to commit an entry of its term (thesis 6.4 step 1). */
export interface DeferredRead {
  readonly requester: NodeId;
  readonly context: Uint8Array;
}

/** State only a leader has; discarded when it steps down. */
export interface LeaderState {
  /** Every member of the configuration in force (voters and learners), this server included. */
  readonly progress: Map<NodeId, Progress>;
  /** Reads waiting for a heartbeat round (safe mode). */
  readonly reads: ReadOnlyQueue;
  /** The lease of `readOnly: "lease"` (thesis 6.4.1). */
  readonly lease: LeaderLease;
  /** Reads that arrived before an entry of this term was committed. */
  deferredReads: DeferredRead[];
  /** Target of a leadership transfer under way (thesis 3.10), or null. */
  transferee: NodeId | null;
  /** Payload bytes of entries this leader appended that are not yet applied (maxUncommittedBytes). */
  uncommittedBytes: number;
  /**
   * Proposals were appended since the last broadcast. They go out as one append per peer when the
   * next Ready is built, so proposals that arrive while a Ready is being persisted share a message.
   */
  appendsPending: boolean;
}

/** The role of a server, with the state that only that role has. */
export type Role =
  | { readonly kind: "follower" }
  | { readonly kind: "pre-candidate"; readonly votes: Map<NodeId, boolean> }
  | { readonly kind: "candidate"; readonly votes: Map<NodeId, boolean> }
  | { readonly kind: "leader"; readonly leader: LeaderState };

/** Everything a server knows. Mutated only by the core's modules, in response to inputs. */
export interface RaftNode {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  readonly conf: ConfTracker;
  term: Term;
  vote: NodeId | null;
  /** The leader of `term` this server knows of (itself when leading), or null. */
  leader: NodeId | null;
  role: Role;
  /** Ticks since the last reset (leader contact, granted vote, role change). */
  electionElapsed: number;
  /**
   * Lease mode: a (re)started server refuses votes for its first election timeout, as if it had
   * just heard a leader, since a leader's lease may count on an answer it gave before the restart
   * and forgot (thesis 6.4.1). Cleared once an election timeout passed.
   */
  startupHold: boolean;
  /** Leader only: ticks since the last heartbeat broadcast. */
  heartbeatElapsed: number;
  /** Follower timeout in [electionTicks, 2 * electionTicks), drawn from the injected Rng. */
  randomizedElectionTimeout: number;
  /** Messages produced since the last Ready, in order. */
  outbox: Message[];
  /** Reads that became safe since the last Ready. */
  readStates: ReadState[];
  /** A snapshot being received in chunks, or null. */
  incoming: IncomingSnapshot | null;
  /** Last read sequence number issued (monotonic for the life of this core). */
  readSeq: number;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A message to send: `from` is filled in, `term` defaults to the current term. */
export type Outgoing = DistributiveOmit<Message, "from" | "term"> & { readonly term?: Term };

/** Queues `m` for the next Ready (sent only after that Ready's persistence). */
export function send(node: RaftNode, m: Outgoing): void {
  node.outbox.push({ ...m, from: node.id, term: m.term ?? node.term } as Message);
}

/** Draws a new follower/candidate timeout in [electionTicks, 2 * electionTicks). */
export function resetRandomizedElectionTimeout(node: RaftNode): void {
  node.randomizedElectionTimeout = node.cfg.electionTicks + node.cfg.rng.int(0, node.cfg.electionTicks - 1);
}

/** The configuration in force (the latest in the log). */
export function currentConf(node: RaftNode): ConfState {
  return node.conf.current();
}

/**
 * True when this server may campaign: it is a voter of the configuration in force, or it was a
 * voter of the committed configuration and a change not yet known committed removes it (thesis
 * 4.2.2: it may be needed to commit that change; it then does not count its own vote).
 */
export function promotable(node: RaftNode): boolean {
  if (isVoter(node.conf.current(), node.id)) return true;
  const committed = node.log.committed;
  return node.conf.latestIndex() > committed && isVoter(node.conf.confAt(committed), node.id);
}

/** The durable-state triple (paper figure 2). */
export function hardStateOf(node: RaftNode): HardState {
  return { term: node.term, vote: node.vote, commit: node.log.committed };
}

/** Role and known leader. */
export function softStateOf(node: RaftNode): SoftState {
  return { role: node.role.kind, leader: node.leader };
}

/** The leader state, or null when not leading. */
export function leaderStateOf(node: RaftNode): LeaderState | null {
  return node.role.kind === "leader" ? node.role.leader : null;
}
