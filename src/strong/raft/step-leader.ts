/**
 * A leader's handling of its followers' answers (paper 5.3; etcd-raft's `stepLeader`): append
 * acks and rejections drive each follower's {@link Progress} state machine and the commit index;
 * heartbeat answers prove liveness (check-quorum), unstick probes and snapshot transfers, and
 * confirm ReadIndex rounds; snapshot-chunk answers pace a transfer. Answers from peers that are not
 * members, stale answers and duplicates change nothing.
 */
import { assertNever } from "../../errors.js";
import { maybeCommitAndPropagate } from "./leader-commit.js";
import type { MessageOf } from "./messages.js";
import type { LeaderState, RaftNode } from "./node-state.js";
import { leaderHeartbeatAck } from "./reads.js";
import { maybeSendAppend, sendAppend, sendSnapshotChunk, sendTimeoutNow } from "./replication.js";
import { asIndex } from "./types.js";

/** An answer to an append (or a follower's report after a snapshot). */
export function handleAppendResponse(node: RaftNode, leader: LeaderState, m: MessageOf<"append-resp">): void {
  const pr = leader.progress.get(m.from);
  if (pr === undefined || m.from === node.id) return;
  pr.recentActive = true;
  const lastIndex = node.log.lastIndex();
  // Nothing a correct follower of this term can say lies beyond our log.
  if (m.index > lastIndex) return;
  if (m.reject) {
    let probe = asIndex(Math.min(m.hintIndex, lastIndex));
    if (m.hintTerm > 0) probe = node.log.findConflictByTerm(probe, m.hintTerm).index;
    if (pr.maybeDecrTo(m.index, probe)) {
      if (pr.state === "replicate") pr.becomeProbe();
      sendAppend(node, leader, m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === "probe")) return;
  switch (pr.state) {
    case "probe":
      pr.becomeReplicate();
      break;
    case "snapshot":
      // The follower installed the snapshot (or already had it), or its log reaches ours again.
      if (pr.match >= pr.pendingSnapshot || pr.match + 1 >= node.log.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      break;
    case "replicate":
      pr.inflights.freeLE(m.index);
      break;
    default:
      assertNever(pr.state, "progress state");
  }
  if (!maybeCommitAndPropagate(node, leader) && wasPaused) sendAppend(node, leader, m.from);
  if (node.role.kind !== "leader") return;
  while (maybeSendAppend(node, leader, m.from, false)) {
    // Send as much as flow control allows.
  }
  if (m.from === leader.transferee && pr.match === node.log.lastIndex()) sendTimeoutNow(node, m.from);
}

/** An answer to a heartbeat. */
export function handleHeartbeatResponse(node: RaftNode, leader: LeaderState, m: MessageOf<"heartbeat-resp">): void {
  const pr = leader.progress.get(m.from);
  if (pr === undefined || m.from === node.id) return;
  pr.recentActive = true;
  if (pr.state === "snapshot") {
    if (pr.outgoing?.onHeartbeatResponse() === true) sendSnapshotChunk(node, m.from, pr);
  } else {
    pr.paused = false;
    if (pr.match < node.log.lastIndex() || pr.state === "probe") sendAppend(node, leader, m.from);
  }
  leaderHeartbeatAck(node, leader, m.from, m.context);
}

/** An answer to a snapshot chunk: send the next one, or resume where the follower says. */
export function handleSnapshotResponse(node: RaftNode, leader: LeaderState, m: MessageOf<"snapshot-resp">): void {
  const pr = leader.progress.get(m.from);
  if (pr === undefined || m.from === node.id) return;
  pr.recentActive = true;
  if (pr.state !== "snapshot" || pr.outgoing === null || m.index !== pr.pendingSnapshot) return;
  if (pr.outgoing.onResponse(m.offset, m.reject)) sendSnapshotChunk(node, m.from, pr);
}
