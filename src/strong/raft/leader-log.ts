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
export function newProgress(node: RaftNode, id: NodeId, isLearner: boolean): Progress {
  const pr = new Progress({
    match: asIndex(0),
    next: asIndex(node.log.lastIndex() + 1),
    isLearner,
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
 * Makes `leader.progress` hold exactly the members of the configuration in force: adds the new
 * ones, drops the removed ones (aborting a transfer to them), updates learner flags.
 */
export function syncProgressWithConf(node: RaftNode, leader: LeaderState): void {
  const conf = node.conf.current();
  const ids = new Set(members(conf));
  for (const id of [...leader.progress.keys()]) {
    if (!ids.has(id)) {
      leader.progress.delete(id);
      if (leader.transferee === id) leader.transferee = null;
    }
  }
  for (const id of members(conf)) {
    const learner = conf.learners.includes(id);
    const pr = leader.progress.get(id);
    if (pr === undefined) leader.progress.set(id, newProgress(node, id, learner));
    else pr.isLearner = learner;
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
