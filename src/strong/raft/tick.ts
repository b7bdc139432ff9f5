/**
 * Logical time (ticks; the driver decides how long one is). Followers and candidates count toward
 * their randomized election timeout (paper 5.2). A leader counts toward heartbeats and, every
 * election timeout, checks that a quorum of voters was heard from (check-quorum, thesis 6.2) and
 * abandons a leadership transfer that did not complete (thesis 3.10).
 */
import { heartbeatRound } from "./reads.js";
import { assertNever } from "../../errors.js";
import { hup } from "./election.js";
import { promotable, type LeaderState, type RaftNode } from "./node-state.js";
import { hasQuorum } from "./quorum.js";
import { bcastHeartbeat } from "./replication.js";
import { becomeFollower } from "./roles.js";

/** Advances logical time by one tick. */
export function tick(node: RaftNode): void {
  const role = node.role;
  switch (role.kind) {
    case "follower":
    case "pre-candidate":
    case "candidate":
      tickElection(node);
      return;
    case "leader":
      tickHeartbeat(node, role.leader);
      return;
    default:
      assertNever(role, "role");
  }
}

function tickElection(node: RaftNode): void {
  node.electionElapsed++;
  if (node.electionElapsed >= node.cfg.electionTicks) node.startupHold = false;
  if (promotable(node) && node.electionElapsed >= node.randomizedElectionTimeout) {
    node.electionElapsed = 0;
    hup(node, false);
  }
}

function tickHeartbeat(node: RaftNode, leader: LeaderState): void {
  leader.lease.tick();
  node.heartbeatElapsed++;
  node.electionElapsed++;
  if (node.electionElapsed >= node.cfg.electionTicks) {
    node.electionElapsed = 0;
    if (node.cfg.checkQuorum) {
      const active = hasQuorum(node.conf.current().voters, (id) => id === node.id || (leader.progress.get(id)?.recentActive ?? false));
      for (const [id, pr] of leader.progress) if (id !== node.id) pr.recentActive = false;
      if (!active) {
        becomeFollower(node, node.term, null);
        return;
      }
    }
    leader.transferee = null;
  }
  if (node.heartbeatElapsed >= node.cfg.heartbeatTicks) {
    node.heartbeatElapsed = 0;
    // Lease mode: every round renews the lease, so each needs its own sequence and send tick.
    if (node.cfg.readOnly === "lease") heartbeatRound(node, leader, ++node.readSeq);
    else bcastHeartbeat(node, leader, leader.reads.lastSeq());
  }
}
