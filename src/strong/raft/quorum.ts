/**
 * Majority arithmetic over a set of voters (paper 5.2, 5.3; etcd-raft's `quorum` package). Pure
 * functions; learners are never passed in here.
 */
import { asIndex, type LogIndex, type NodeId } from "./types.js";

/** Size of a majority of `voters` voters: floor(n / 2) + 1. */
export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index that a majority of `voters` hold (the largest `i` such that a quorum has
 * `match >= i`). A voter with no known match counts as 0. With no voters, 0: nothing can commit.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex | undefined): LogIndex {
  const matches = voters.map((id) => matchOf(id) ?? 0).sort((a, b) => b - a);
  return asIndex(matches[quorumSize(voters.length) - 1] ?? 0);
}

/** Outcome of an election so far. */
export type VoteResult = "won" | "lost" | "pending";

/**
 * Tallies `votes` (granted = true) over `voters`; votes from non-voters are ignored. `lost` as soon
 * as a majority can no longer be reached.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return "won"; // never with no voters: a quorum is at least one
  if (voters.length - rejected < q) return "lost";
  return "pending";
}

/** True when a majority of `voters` satisfy `active` (check-quorum, ReadIndex confirmation). */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n++;
  return n >= quorumSize(voters.length);
}
