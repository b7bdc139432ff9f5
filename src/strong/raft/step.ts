/**
 * Entry point for every message from the network (etcd-raft's `Step`): the term rules of paper 5.1
 * (a higher term makes us a follower, a lower term is stale), the leader lease of check-quorum
 * (thesis 4.2.3, 6.2: a server that hears from a live leader ignores vote requests), the pre-vote
 * exceptions (thesis 9.6), then dispatch by role. Never throws on anything a network can deliver:
 * implausible messages, messages to someone else and stale messages are dropped.
 */
import { assertNever } from "../../errors.js";
import { handleVoteRequest, handleVoteResponse, hup } from "./election.js";
import { isPlausible } from "./message-checks.js";
import type { Message, MessageOf } from "./messages.js";
import { send, type LeaderState, type RaftNode } from "./node-state.js";
import { leaderPropose, leaderTransfer } from "./proposals.js";
import { leaderRead } from "./reads.js";
import { becomeFollower } from "./roles.js";
import { handleAppendResponse, handleHeartbeatResponse, handleSnapshotResponse } from "./step-leader.js";
import { handleAppend, handleHeartbeat, handleSnapshotChunk } from "./step-follower.js";
import { asIndex, asTerm } from "./types.js";

type Forwarded = MessageOf<"propose" | "read-index" | "read-index-resp" | "transfer-leader">;

function isForwarded(m: Message): m is Forwarded {
  return m.type === "propose" || m.type === "read-index" || m.type === "read-index-resp" || m.type === "transfer-leader";
}

/** Feeds one message from the network into the core. */
export function step(node: RaftNode, m: Message): void {
  if (!isPlausible(m) || m.to !== node.id || m.from === node.id) return;
  if (isForwarded(m)) {
    stepForwarded(node, m);
    return;
  }
  if (m.term === 0) return;
  if (m.term > node.term) {
    if (m.type === "vote" || m.type === "pre-vote") {
      // Heard from a leader within an election timeout: its lease (check-quorum) holds for votes;
      // pre-votes are refused then whatever the options (thesis 9.6: a rejoining server can't
      // pre-win while the others hear a leader).
      const inLease =
        (node.cfg.checkQuorum || m.type === "pre-vote") &&
        (node.leader !== null || node.startupHold) &&
        node.electionElapsed < node.cfg.electionTicks;
      if (inLease && !m.transfer) return;
    }
    if (m.type === "pre-vote" || (m.type === "pre-vote-resp" && !m.reject)) {
      // A pre-vote (or a granted answer to ours) is about a term nobody has entered yet.
    } else if (m.type === "append" || m.type === "heartbeat" || m.type === "snapshot") {
      becomeFollower(node, m.term, m.from);
    } else {
      becomeFollower(node, m.term, null);
    }
  } else if (m.term < node.term) {
    if ((node.cfg.checkQuorum || node.cfg.preVote) && (m.type === "append" || m.type === "heartbeat")) {
      // A leader of an older term: answering with our term makes it step down, where silence
      // could leave it leading (and refusing our votes under its lease) indefinitely.
      send(node, { type: "append-resp", to: m.from, reject: false, index: asIndex(0), hintIndex: asIndex(0), hintTerm: asTerm(0) });
    } else if (m.type === "pre-vote") {
      send(node, { type: "pre-vote-resp", to: m.from, reject: true });
    }
    return;
  }
  if (m.type === "vote" || m.type === "pre-vote") {
    handleVoteRequest(node, m);
    return;
  }
  const role = node.role;
  switch (role.kind) {
    case "leader":
      stepLeader(node, role.leader, m);
      return;
    case "pre-candidate":
    case "candidate":
      stepCandidate(node, m);
      return;
    case "follower":
      stepFollower(node, m);
      return;
    default:
      assertNever(role, "role");
  }
}

function stepLeader(node: RaftNode, leader: LeaderState, m: Message): void {
  switch (m.type) {
    case "append-resp":
      handleAppendResponse(node, leader, m);
      return;
    case "heartbeat-resp":
      handleHeartbeatResponse(node, leader, m);
      return;
    case "snapshot-resp":
      handleSnapshotResponse(node, leader, m);
      return;
    default:
      // Votes were answered in `step`; anything else at our term is stale or impossible.
      return;
  }
}

function stepCandidate(node: RaftNode, m: Message): void {
  switch (m.type) {
    case "append":
      becomeFollower(node, m.term, m.from);
      handleAppend(node, m);
      return;
    case "heartbeat":
      becomeFollower(node, m.term, m.from);
      handleHeartbeat(node, m);
      return;
    case "snapshot":
      becomeFollower(node, m.term, m.from);
      handleSnapshotChunk(node, m);
      return;
    case "vote-resp":
    case "pre-vote-resp":
      handleVoteResponse(node, m);
      return;
    default:
      return;
  }
}

function stepFollower(node: RaftNode, m: Message): void {
  switch (m.type) {
    case "append":
      node.electionElapsed = 0;
      node.leader = m.from;
      handleAppend(node, m);
      return;
    case "heartbeat":
      node.electionElapsed = 0;
      node.leader = m.from;
      handleHeartbeat(node, m);
      return;
    case "snapshot":
      node.electionElapsed = 0;
      node.leader = m.from;
      handleSnapshotChunk(node, m);
      return;
    case "timeout-now":
      hup(node, true);
      return;
    default:
      return;
  }
}

/**
 * Requests forwarded between servers carry no term: a leader serves them whatever term they were
 * sent in (a proposal or read is valid whenever it arrives); others drop them rather than
 * forwarding again. A `read-index-resp` is valid whenever it arrives: the read point was
 * confirmed after the request was made.
 */
function stepForwarded(node: RaftNode, m: Forwarded): void {
  if (m.type === "read-index-resp") {
    node.readStates.push({ index: m.index, context: m.context });
    return;
  }
  if (node.role.kind !== "leader") return;
  const leader = node.role.leader;
  switch (m.type) {
    case "propose":
      leaderPropose(node, leader, m.proposals);
      return;
    case "read-index":
      leaderRead(node, leader, m.from, m.context);
      return;
    case "transfer-leader":
      leaderTransfer(node, leader, m.target);
      return;
    default:
      assertNever(m, "forwarded message");
  }
}
