/**
 * The vocabulary of the Raft core (`strong` mode): branded ids, log entries, hard state,
 * membership, snapshots. Pure data, shared by the core, its codec, its storage and its drivers.
 *
 * References: Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm" (the paper,
 * sections 5 and 8) and Ongaro's thesis "Consensus: Bridging Theory and Practice" (chapters 3, 4,
 * 6, 9); the shape follows etcd-raft.
 */
import type { Brand } from "../../ids.js";

/** Names one Raft server. Non-empty; stable across restarts. */
export type NodeId = Brand<string, "NodeId">;
/** A Raft term (paper 5.1): 0 before any election, then increasing. */
export type Term = Brand<number, "Term">;
/** A position in the replicated log; the first entry is at 1, 0 means "before the log". */
export type LogIndex = Brand<number, "LogIndex">;

/** Brands a string as a {@link NodeId}. */
export const asNodeId = (s: string): NodeId => s as NodeId;
/** Brands a non-negative safe integer as a {@link Term}. */
export const asTerm = (n: number): Term => n as Term;
/** Brands a non-negative safe integer as a {@link LogIndex}. */
export const asIndex = (n: number): LogIndex => n as LogIndex;

/**
 * One membership change, one server at a time (thesis 4.1 and 4.2.1):
 * - `add-learner`: a non-voting member that receives the log (thesis 4.2.1, "catching up").
 * - `promote`: a caught-up learner becomes a voter.
 * - `add-voter`: adds a voter directly (used to bootstrap; prefer learner then promote).
 * - `remove`: removes a voter or a learner, possibly the leader itself (thesis 4.2.2).
 */
export type ConfChange =
  | { readonly type: "add-learner"; readonly node: NodeId }
  | { readonly type: "promote"; readonly node: NodeId }
  | { readonly type: "add-voter"; readonly node: NodeId }
  | { readonly type: "remove"; readonly node: NodeId };

/** The membership in force: voters decide, learners only follow. Disjoint, sorted by id. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * A log entry. `noop` is the entry a new leader appends at the start of its term (thesis 6.4,
 * paper 8) so entries of earlier terms become committable. When a `conf-change` takes effect is
 * the core's documented rule (see its membership module).
 */
export type Entry =
  | { readonly kind: "normal"; readonly term: Term; readonly index: LogIndex; readonly data: Uint8Array }
  | { readonly kind: "noop"; readonly term: Term; readonly index: LogIndex }
  | { readonly kind: "conf-change"; readonly term: Term; readonly index: LogIndex; readonly change: ConfChange };

/** State that MUST be durable before any message that depends on it is sent (paper figure 2). */
export interface HardState {
  /** Latest term this server has seen. */
  readonly term: Term;
  /** Candidate voted for in `term`, or null. */
  readonly vote: NodeId | null;
  /** Highest index known committed. Persisted so it never goes backwards across restarts. */
  readonly commit: LogIndex;
}

/** Describes the state a snapshot captures: everything up to and including `index`. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  /** Membership as of `index`. */
  readonly conf: ConfState;
}

/** A state-machine snapshot with its position; `data` is opaque to the core. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** A linearizable read that became safe to serve once the state machine applied `index`. */
export interface ReadState {
  readonly index: LogIndex;
  /** The caller's context given to `readIndex`, returned unchanged to match the request. */
  readonly context: Uint8Array;
}

/** The kinds of role a server can be in (the role itself, with its state, is internal). */
export type RoleKind = "follower" | "pre-candidate" | "candidate" | "leader";

/** Volatile state worth telling the driver about when it changes. */
export interface SoftState {
  readonly role: RoleKind;
  /** The leader this server knows of in the current term, or null. */
  readonly leader: NodeId | null;
}

/** An empty hard state: term 0, no vote, nothing committed. */
export const EMPTY_HARD_STATE: HardState = { term: asTerm(0), vote: null, commit: asIndex(0) };

/** Bytes an entry counts for in flow control and size limits (payload only, like etcd-raft). */
export function entryPayloadSize(e: Entry): number {
  switch (e.kind) {
    case "normal":
      return e.data.byteLength;
    case "noop":
      return 0;
    case "conf-change":
      return 1 + e.change.node.length;
  }
}
