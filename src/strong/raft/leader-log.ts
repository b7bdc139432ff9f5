/**
 * A leader's own log and its view of the members: appending entries of its term (which, for a
 * `conf-change`, changes the membership at once: see membership.ts) and keeping one
 * {@link Progress} per member. The leader's own progress counts only DURABLE entries: its match
 * moves when the driver advances a Ready that persisted them, never when they are appended.
 */
import { members } from "./membership.js";
import type { LeaderState, RaftNode } from "./node-state.js";
import { Progress } from "./progress.js";
import { asIndex, type Entry, type NodeId } from "./types.js";

/** A fresh progress for `id`: probing from the end of our log (etcd-raft's choice). */
export function newProgress(node: RaftNode, id: NodeId): Progress {
  const pr = new Progress({
    match: asIndex(0),
    next: asIndex(node.log.lastIndex() + 1),
    // A member just added must not count as silent at the next check-quorum before we could hear it.
    recentActive: true,
    maxInflightMessages: node.cfg.maxInflightMessages,
    maxInflightBytes: node.cfg.maxInflightBytes,
  });
  if (id === node.id) {
    pr.match = node.log.durableLastIndex();
    pr.becomeReplicate();
    pr.next = asIndex(node.log.lastIndex() + 1);
  }
  return pr;
}

/**
 * Makes `leader.progress` hold exactly the members of the configuration in force plus the members
 * of the committed configuration that an uncommitted change removes ("leaving" servers), drops
 * everyone else (aborting a transfer to them), and updates learner flags.
 *
 * A leaving server is never counted (quorums are taken over the configuration in force) but keeps
 * receiving appends and heartbeats until its removal commits, including the append that carries
 * that commit. Otherwise it would time out while the leader is still committing its removal and,
 * without pre-vote and check-quorum, depose that leader with a higher term, again and again while
 * a slow catch-up (a snapshot transfer) needs a stable leader (thesis 4.2.3, found by simulation).
 */
export function syncProgressWithConf(node: RaftNode, leader: LeaderState): void {
  const conf = node.conf.current();
  const committed = node.conf.confAt(node.log.committed);
  const ids = new Set([...members(conf), ...members(committed)]);
  for (const id of [...leader.progress.keys()]) {
    if (!ids.has(id)) {
      leader.progress.delete(id);
      if (leader.transferee === id) leader.transferee = null;
    }
  }
  for (const id of ids) {
    if (!leader.progress.has(id)) leader.progress.set(id, newProgress(node, id));
  }
}

/**
 * Appends entries the leader created (term and index already assigned, contiguous after the last
 * index) and applies any membership change among them at once.
 */
export function appendAsLeader(node: RaftNode, leader: LeaderState, entries: readonly Entry[]): void {
  if (entries.length === 0) return;
  node.log.append(entries);
  node.conf.onAppend(entries);
  if (entries.some((e) => e.kind === "conf-change")) syncProgressWithConf(node, leader);
}

/** Raises the leader's own match to what is durable now (call after the driver advanced a Ready). */
export function updateSelfMatch(node: RaftNode, leader: LeaderState): void {
  leader.progress.get(node.id)?.maybeUpdate(node.log.durableLastIndex());
}
