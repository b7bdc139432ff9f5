/**
 * Leader election (paper 5.2) with the election restriction (paper 5.4.1), pre-vote (thesis 9.6)
 * and campaigns forced by a leadership transfer (thesis 3.10).
 */
import { assertNever } from "../../errors.js";
import { sortIds } from "./membership.js";
import type { MessageOf } from "./messages.js";
import { promotable, send, type RaftNode } from "./node-state.js";
import { voteResult } from "./quorum.js";
import { bcastAppend } from "./replication.js";
import { asTerm, type NodeId } from "./types.js";
import { becomeCandidate, becomeFollower, becomeLeader, becomePreCandidate } from "./roles.js";

/**
 * Starts an election if this server may: not already leading, and a voter of the configuration in
 * force. With pre-vote, a pre-vote round comes first, unless `transfer` (a timeout-now).
 */
export function hup(node: RaftNode, transfer: boolean): void {
  if (node.role.kind === "leader" || !promotable(node)) return;
  campaign(node, node.cfg.preVote && !transfer ? "pre-vote" : "vote", transfer);
}

function campaign(node: RaftNode, kind: "pre-vote" | "vote", transfer: boolean): void {
  if (kind === "pre-vote") becomePreCandidate(node);
  else becomeCandidate(node);
  // A pre-vote asks about the term it WOULD campaign at, without changing ours.
  const term = kind === "pre-vote" ? asTerm(node.term + 1) : node.term;
  if (recordVote(node, node.id, true)) return;
  const lastIndex = node.log.lastIndex();
  const lastTerm = node.log.lastTerm();
  for (const id of sortIds(node.conf.current().voters)) {
    if (id === node.id) continue;
    send(node, { type: kind, to: id, term, lastIndex, lastTerm, transfer });
  }
}

/**
 * Records a vote for the current (pre-)campaign and acts on the outcome: a won pre-vote starts the
 * real election, a won election makes us leader, a lost one makes us a follower again.
 * Returns true when the round was decided.
 */
function recordVote(node: RaftNode, from: NodeId, granted: boolean): boolean {
  const role = node.role;
  if (role.kind !== "pre-candidate" && role.kind !== "candidate") return false;
  if (!role.votes.has(from)) role.votes.set(from, granted);
  const result = voteResult(node.conf.current().voters, role.votes);
  switch (result) {
    case "pending":
      return false;
    case "won":
      if (role.kind === "pre-candidate") {
        campaign(node, "vote", false);
      } else {
        becomeLeader(node);
        if (node.role.kind === "leader") bcastAppend(node, node.role.leader);
      }
      return true;
    case "lost":
      becomeFollower(node, node.term, null);
      return true;
    default:
      return assertNever(result, "vote result");
  }
}

/**
 * A vote or pre-vote request, after the term rules of `step` ran. Granted when we may vote
 * (already voted for this candidate, or voted for nobody and know no leader, or it is a pre-vote
 * for a later term) AND the candidate's log is at least as up-to-date as ours (paper 5.4.1).
 * A granted real vote is recorded (persisted with the Ready, BEFORE the answer is sent) and
 * resets the election timer.
 */
export function handleVoteRequest(node: RaftNode, m: MessageOf<"vote" | "pre-vote">): void {
  const canVote =
    node.vote === m.from || (node.vote === null && node.leader === null) || (m.type === "pre-vote" && m.term > node.term);
  const respType = m.type === "vote" ? "vote-resp" : "pre-vote-resp";
  if (canVote && node.log.isUpToDate(m.lastIndex, m.lastTerm)) {
    send(node, { type: respType, to: m.from, term: m.term, reject: false });
    if (m.type === "vote") {
      node.electionElapsed = 0;
      node.vote = m.from;
    }
  } else {
    send(node, { type: respType, to: m.from, reject: true });
  }
}

/** A vote or pre-vote answer reached a (pre-)candidate; stale ones are ignored. */
export function handleVoteResponse(node: RaftNode, m: MessageOf<"vote-resp" | "pre-vote-resp">): void {
  const role = node.role.kind;
  if (role === "pre-candidate" && m.type === "pre-vote-resp") {
    // Granted pre-votes carry the term we would campaign at; rejections carry the voter's term (ours).
    const expected = m.reject ? node.term : node.term + 1;
    if (m.term === expected) recordVote(node, m.from, !m.reject);
  } else if (role === "candidate" && m.type === "vote-resp" && m.term === node.term) {
    recordVote(node, m.from, !m.reject);
  }
}
