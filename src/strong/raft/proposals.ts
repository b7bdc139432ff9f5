/**
 * Client requests as the leader handles them, whether local or forwarded by a follower:
 * proposals (with the uncommitted-size cap and the membership-change rules of membership.ts) and
 * leadership transfer (thesis 3.10). Refusals are values: a forwarded request that is refused is
 * dropped silently (the follower already answered `ok`: no promise it commits).
 */
import type { RequestResult } from "./core.js";
import { appendAsLeader } from "./leader-log.js";
import { maybeCommitAndPropagate } from "./leader-commit.js";
import { applyConfChange, isVoter, members } from "./membership.js";
import type { Proposal } from "./messages.js";
import type { LeaderState, RaftNode } from "./node-state.js";
import { committedInCurrentTerm } from "./reads.js";
import { bcastAppend, sendAppend, sendTimeoutNow } from "./replication.js";
import { asIndex, entryPayloadSize, type ConfChange, type Entry, type NodeId } from "./types.js";

const OK: RequestResult = { ok: true };

/** Why `change` may not be proposed now, or null when it may (membership.ts states the rules). */
function checkConfChange(node: RaftNode, leader: LeaderState, change: ConfChange): RequestResult | null {
  const latest = node.conf.latestIndex();
  if (latest > node.log.committed) {
    return { ok: false, reason: "conf-change-pending", detail: `the membership change at index ${latest} is not committed yet` };
  }
  if (!committedInCurrentTerm(node)) {
    return { ok: false, reason: "conf-change-pending", detail: "the leader has not committed an entry of its term yet" };
  }
  const next = applyConfChange(node.conf.current(), change);
  if ("error" in next) return { ok: false, reason: "invalid-conf-change", detail: next.error };
  if (change.type === "promote") {
    const match = leader.progress.get(change.node)?.match ?? 0;
    if (match < node.log.committed) {
      return {
        ok: false,
        reason: "invalid-conf-change",
        detail: `learner ${change.node} has not caught up yet (match ${match} < commit ${node.log.committed})`,
      };
    }
  }
  return null;
}

/**
 * Appends `proposals` as entries of the current term and replicates them. All or nothing: at
 * most one membership change per batch, every rule checked first.
 */
export function leaderPropose(node: RaftNode, leader: LeaderState, proposals: readonly Proposal[]): RequestResult {
  if (proposals.length === 0) return OK;
  if (leader.transferee !== null) {
    return { ok: false, reason: "transferring", detail: `leadership is being transferred to ${leader.transferee}` };
  }
  if (!members(node.conf.current()).includes(node.id)) {
    return { ok: false, reason: "not-member", detail: "this leader removed itself and steps down once that commits" };
  }
  const changes = proposals.filter((p) => p.kind === "conf-change");
  if (changes.length > 1) return { ok: false, reason: "invalid-conf-change", detail: "one membership change at a time" };
  for (const p of changes) {
    const refused = checkConfChange(node, leader, p.change);
    if (refused !== null) return refused;
  }
  const first = node.log.lastIndex() + 1;
  const entries = proposals.map((p, i): Entry => {
    const index = asIndex(first + i);
    return p.kind === "normal"
      ? { kind: "normal", term: node.term, index, data: p.data }
      : { kind: "conf-change", term: node.term, index, change: p.change };
  });
  const bytes = entries.reduce((n, e) => n + entryPayloadSize(e), 0);
  const limit = node.cfg.maxUncommittedBytes;
  // An empty uncommitted tail takes any size, or one big entry could never be proposed.
  if (limit > 0 && leader.uncommittedBytes > 0 && bytes > 0 && leader.uncommittedBytes + bytes > limit) {
    return {
      ok: false,
      reason: "uncommitted-limit",
      detail: `${leader.uncommittedBytes} bytes are uncommitted; ${bytes} more would exceed maxUncommittedBytes ${limit}`,
    };
  }
  leader.uncommittedBytes += bytes;
  appendAsLeader(node, leader, entries);
  if (changes.length === 0) {
    // Batching: sent with whatever else is proposed before the next Ready is built.
    leader.appendsPending = true;
  } else if (!maybeCommitAndPropagate(node, leader)) {
    // Removing a voter shrinks the quorum: entries already held by the new quorum may commit now.
    bcastAppend(node, leader);
  }
  return OK;
}

/**
 * Starts handing leadership to `target` (thesis 3.10): proposals are refused meanwhile; the target
 * is brought up to date and then told to campaign. Aborted after an election timeout (see tick).
 */
export function leaderTransfer(node: RaftNode, leader: LeaderState, target: NodeId): RequestResult {
  if (target === node.id) return OK;
  if (!isVoter(node.conf.current(), target)) {
    return { ok: false, reason: "not-member", detail: `${target} is not a voter and cannot lead` };
  }
  if (leader.transferee === target) return OK;
  leader.transferee = target;
  node.electionElapsed = 0;
  const pr = leader.progress.get(target);
  if (pr !== undefined && pr.match === node.log.lastIndex()) sendTimeoutNow(node, target);
  else sendAppend(node, leader, target);
  return OK;
}
