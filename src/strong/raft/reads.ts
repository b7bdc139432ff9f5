/**
 * Linearizable reads by ReadIndex (thesis 6.4), served by the leader for itself and for followers:
 *   1. the leader must have committed an entry of its term (until then requests are deferred);
 *   2. it records its commit index as the read index;
 *   3. "safe": it confirms it is still the leader with a heartbeat round a quorum of voters answers
 *      (the round's sequence number travels as the heartbeat context); "lease" (thesis 6.4.1,
 *      requires check-quorum): it answers at once, trusting its lease (not during a leadership
 *      transfer, which lets another server win inside the lease: then it uses a round);
 *   4. the read is served once the state machine applied the read index.
 * Not guaranteed: an answer. A request pending when leadership ends is dropped; callers retry.
 */
import { hasQuorum } from "./quorum.js";
import { send, type DeferredRead, type LeaderState, type RaftNode } from "./node-state.js";
import { decodeReadContext } from "./read-only.js";
import { bcastHeartbeat } from "./replication.js";
import { asTerm, type LogIndex, type NodeId } from "./types.js";

/** True when the entry at the commit index is of the current term (so everything before is committed). */
export function committedInCurrentTerm(node: RaftNode): boolean {
  return node.log.term(node.log.committed) === node.term;
}

/** Hands a safe read point to whoever asked: a ReadState here, or a `read-index-resp` to a follower. */
function answerRead(node: RaftNode, requester: NodeId, index: LogIndex, context: Uint8Array): void {
  if (requester === node.id) node.readStates.push({ index, context });
  else send(node, { type: "read-index-resp", to: requester, term: asTerm(0), index, context });
}

/** Releases every pending read a quorum of voters has confirmed. */
function releaseConfirmed(node: RaftNode, leader: LeaderState): void {
  const voters = node.conf.current().voters;
  const released = leader.reads.release((r) => hasQuorum(voters, (id) => r.acks.has(id)));
  for (const r of released) answerRead(node, r.requester, r.index, r.context);
}

/** A read request reached the leader (from itself or forwarded by `requester`). */
export function leaderRead(node: RaftNode, leader: LeaderState, requester: NodeId, context: Uint8Array): void {
  leaderReads(node, leader, [{ requester, context }]);
}

/** Several read requests at once: one heartbeat round confirms them all. */
function leaderReads(node: RaftNode, leader: LeaderState, requests: readonly DeferredRead[]): void {
  if (requests.length === 0) return;
  if (!committedInCurrentTerm(node)) {
    leader.deferredReads = leader.deferredReads.concat(requests);
    return;
  }
  // A transfer lets another server win an election inside our lease: confirm with a round instead;
  // so does a lease no quorum-answered round backs (yet, or any more).
  if (node.cfg.readOnly === "lease" && leader.transferee === null && leader.lease.valid(node.id, node.conf.current().voters, node.cfg.electionTicks)) {
    for (const r of requests) answerRead(node, r.requester, node.log.committed, r.context);
    return;
  }
  let seq = node.readSeq;
  for (const r of requests) {
    seq = ++node.readSeq;
    leader.reads.add({ seq, index: node.log.committed, requester: r.requester, context: r.context });
  }
  leader.reads.ack(node.id, seq);
  releaseConfirmed(node, leader);
  if (leader.reads.size > 0) heartbeatRound(node, leader, seq);
}

/**
 * Broadcasts a heartbeat round with sequence `seq` (a fresh one: never reuse a sequence, or a late
 * answer to an earlier round would pass for an answer to this one), noting its send tick for the lease.
 */
export function heartbeatRound(node: RaftNode, leader: LeaderState, seq: number): void {
  leader.lease.sent(seq);
  bcastHeartbeat(node, leader, seq);
}

/** The leader just committed an entry of its term: deferred reads go ahead. */
export function releaseDeferredReads(node: RaftNode, leader: LeaderState): void {
  if (leader.deferredReads.length === 0 || !committedInCurrentTerm(node)) return;
  const deferred = leader.deferredReads;
  leader.deferredReads = [];
  leaderReads(node, leader, deferred);
}

/** `from` answered a heartbeat whose context was `context`. */
export function leaderHeartbeatAck(node: RaftNode, leader: LeaderState, from: NodeId, context: Uint8Array | null): void {
  const seq = decodeReadContext(context);
  if (seq === null) return;
  leader.lease.acked(from, seq);
  if (leader.reads.size === 0) return;
  leader.reads.ack(from, seq);
  releaseConfirmed(node, leader);
}
