/**
 * Role transitions (paper 5.2, thesis 9.6): follower, pre-candidate, candidate, leader. Each
 * `becomeX` resets what the new role must not inherit; leader-only state lives in the leader role
 * and vanishes with it (pending reads, transfer, progress).
 */
import { LeaderLease } from "./lease.js";
import { invariant } from "../../errors.js";
import { appendAsLeader, syncProgressWithConf } from "./leader-log.js";
import { resetRandomizedElectionTimeout, type LeaderState, type RaftNode } from "./node-state.js";
import { ReadOnlyQueue } from "./read-only.js";
import { asIndex, asTerm, type NodeId, type Term } from "./types.js";

function reset(node: RaftNode, term: Term): void {
  if (node.term !== term) {
    node.term = term;
    node.vote = null;
    node.incoming = null;
  }
  node.leader = null;
  node.electionElapsed = 0;
  node.heartbeatElapsed = 0;
  resetRandomizedElectionTimeout(node);
}

/** Follows `leader` (or nobody yet) in `term`; the vote is kept when the term does not change. */
export function becomeFollower(node: RaftNode, term: Term, leader: NodeId | null): void {
  reset(node, term);
  node.leader = leader;
  node.role = { kind: "follower" };
}

/** Starts a pre-vote round (thesis 9.6): term and vote unchanged. */
export function becomePreCandidate(node: RaftNode): void {
  invariant(node.role.kind !== "leader", "a leader cannot become a pre-candidate");
  node.leader = null;
  node.electionElapsed = 0;
  resetRandomizedElectionTimeout(node);
  node.role = { kind: "pre-candidate", votes: new Map() };
}

/** Starts an election (paper 5.2): a new term, voting for itself. */
export function becomeCandidate(node: RaftNode): void {
  invariant(node.role.kind !== "leader", "a leader cannot become a candidate");
  reset(node, asTerm(node.term + 1));
  node.vote = node.id;
  node.role = { kind: "candidate", votes: new Map() };
}

/**
 * Takes leadership of the current term and appends the term's no-op (paper 8, thesis 6.4) so that
 * entries of earlier terms can be committed. The caller broadcasts.
 */
export function becomeLeader(node: RaftNode): void {
  invariant(node.role.kind === "candidate", `only a candidate can become leader, not a ${node.role.kind}`);
  reset(node, node.term);
  const leader: LeaderState = {
    progress: new Map(),
    reads: new ReadOnlyQueue(),
    lease: new LeaderLease(),
    deferredReads: [],
    transferee: null,
    uncommittedBytes: 0,
    appendsPending: false,
  };
  node.leader = node.id;
  node.role = { kind: "leader", leader };
  syncProgressWithConf(node, leader);
  appendAsLeader(node, leader, [{ kind: "noop", term: node.term, index: asIndex(node.log.lastIndex() + 1) }]);
}
