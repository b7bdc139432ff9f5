/**
 * How a leader advances its commit index (paper 5.3, 5.4.2) and what follows: counting replicas
 * of the configuration in force (its own copy only once durable), committing only an entry of its
 * current term (entries of earlier terms commit indirectly), then propagating the new commit,
 * releasing reads deferred until the first commit of the term, and stepping down once its own
 * removal has committed (thesis 4.2.2).
 */
import { isVoter } from "./membership.js";
import type { LeaderState, RaftNode } from "./node-state.js";
import { committedIndex } from "./quorum.js";
import { releaseDeferredReads } from "./reads.js";
import { bcastAppend, peersOf, sendTimeoutNow } from "./replication.js";
import { becomeFollower } from "./roles.js";
import { syncProgressWithConf } from "./leader-log.js";

/**
 * Advances the commit index if a quorum of voters durably holds an entry of the current term
 * beyond it, and then does everything that follows. Returns true when the commit index moved
 * (the caller then needs no further broadcast: it was done here).
 */
export function maybeCommitAndPropagate(node: RaftNode, leader: LeaderState): boolean {
  const conf = node.conf.current();
  const index = committedIndex(conf.voters, (id) => leader.progress.get(id)?.match);
  if (!node.log.maybeCommit(index, node.term)) return false;
  releaseDeferredReads(node, leader);
  // Leaving servers hear this commit before they are dropped (see syncProgressWithConf).
  bcastAppend(node, leader);
  syncProgressWithConf(node, leader);
  if (!isVoter(conf, node.id) && node.log.committed >= node.conf.latestIndex()) stepDownAfterRemoval(node, leader);
  return true;
}

/**
 * This leader's removal committed (thesis 4.2.2): it stops leading. To spare the cluster an
 * election timeout, it first tells a remaining voter that holds its whole log to campaign at once.
 * One always does (the removal is the last entry: a removed leader proposes nothing after it, and
 * a quorum of the remaining voters holds it); the check only keeps a broken invariant from sending
 * a message to nobody.
 */
function stepDownAfterRemoval(node: RaftNode, leader: LeaderState): void {
  const voters = node.conf.current().voters;
  const last = node.log.lastIndex();
  const heir = peersOf(node, leader).find((id) => voters.includes(id) && leader.progress.get(id)?.match === last);
  if (heir !== undefined) sendTimeoutNow(node, heir);
  becomeFollower(node, node.term, null);
}
