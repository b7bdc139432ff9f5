/**
 * `createRaft`: the Raft core (etcd-raft's `RawNode`) behind the {@link RaftCore} contract. This
 * file wires the modules together and owns the Ready/advance cycle; the protocol lives in
 * step.ts (messages), tick.ts (time), election.ts, replication.ts, step-leader.ts,
 * step-follower.ts, leader-commit.ts, reads.ts, proposals.ts and membership.ts (the
 * configuration-change rule).
 *
 * Ready/advance: at most one Ready is outstanding. Between `ready()` and `advance()` the core
 * keeps accepting ticks, messages and requests (an asynchronous driver may persist meanwhile);
 * what they produce goes into the next Ready, whose messages are sent only after ITS persistence,
 * hence after the outstanding Ready's persistence too.
 */
import { assertNever, ConcordError, invariant } from "../../errors.js";
import type { RaftConfig } from "./config.js";
import type { PeerProgress, RaftCore, RaftStatus, RequestResult } from "./core.js";
import { hup } from "./election.js";
import { maybeCommitAndPropagate } from "./leader-commit.js";
import { updateSelfMatch } from "./leader-log.js";
import { ConfTracker } from "./membership.js";
import type { Message, Proposal } from "./messages.js";
import {
  hardStateOf,
  leaderStateOf,
  resetRandomizedElectionTimeout,
  send,
  softStateOf,
  type RaftNode,
} from "./node-state.js";
import { leaderPropose, leaderTransfer } from "./proposals.js";
import { bcastAppend } from "./replication.js";
import { RaftLog } from "./raft-log.js";
import { leaderRead } from "./reads.js";
import type { Ready } from "./ready.js";
import { resolveConfig, type ResolvedConfig } from "./resolve-config.js";
import { step } from "./step.js";
import { tick } from "./tick.js";
import {
  asIndex,
  asTerm,
  entryPayloadSize,
  type ConfChange,
  type HardState,
  type NodeId,
  type SoftState,
} from "./types.js";

const OK: RequestResult = { ok: true };

function noLeader(what: string): RequestResult {
  return { ok: false, reason: "no-leader", detail: `no known leader to forward ${what} to; retry later` };
}

/**
 * Creates a Raft server from its configuration and durable state (`config.storage`). Validates
 * the whole config first: ConcordError "InvalidArgument" with an actionable message on bad input
 * (including `applied` beyond the log), "Corrupt" when storage contradicts itself (a commit index
 * beyond the last entry).
 *
 * Restart: term, vote and commit come from `storage.initialState().hardState`; membership from
 * `initialState().confState` (as of the snapshot) plus the log's conf-change entries; committed
 * entries after `config.applied` (default: the snapshot index) are handed out again. An `applied`
 * above the stored commit index raises the commit index to it (the driver only applies committed
 * entries, and an un-fsynced commit index may lag).
 *
 * New cluster: every founding member's storage starts from `bootstrapEntries(conf)` (see
 * `MemoryRaftStorage.bootstrap`); a server added later starts from an empty storage.
 */
export function createRaft(config: RaftConfig): RaftCore {
  return new Core(loadNode(resolveConfig(config)));
}

function loadNode(cfg: ResolvedConfig): RaftNode {
  const storage = cfg.storage;
  const { hardState, confState } = storage.initialState();
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  const snapshotIndex = asIndex(first - 1);
  if (last < snapshotIndex) {
    throw new ConcordError("Corrupt", `storage's last index ${last} is below its snapshot index ${snapshotIndex}`, { first, last });
  }
  const applied = asIndex(Math.max(cfg.applied ?? snapshotIndex, snapshotIndex));
  if (applied > last) {
    throw new ConcordError(
      "InvalidArgument",
      `invalid Raft config: applied ${applied} is beyond the last log index ${last} in storage (the state machine is ahead of its log: restore it from the storage's snapshot)`,
      { applied, last },
    );
  }
  const commit = asIndex(Math.max(hardState.commit, snapshotIndex, applied));
  if (commit > last) {
    throw new ConcordError("Corrupt", `storage's commit index ${hardState.commit} is beyond its last index ${last}`, {
      commit: hardState.commit,
      last,
    });
  }
  const conf = new ConfTracker(confState, snapshotIndex);
  for (let lo: number = first; lo <= last; ) {
    const got = storage.entries(asIndex(lo), asIndex(last + 1), Number.POSITIVE_INFINITY);
    if (typeof got === "string" || got.length === 0) {
      throw new ConcordError("Corrupt", `storage cannot read its own entries [${lo}, ${last + 1}): ${String(got)}`, { lo, last });
    }
    conf.onAppend(got);
    lo += got.length;
  }
  const node: RaftNode = {
    id: cfg.id,
    cfg,
    log: new RaftLog(storage, commit, applied),
    conf,
    term: hardState.term,
    vote: hardState.vote,
    leader: null,
    role: { kind: "follower" },
    electionElapsed: 0,
    startupHold: cfg.readOnly === "lease",
    heartbeatElapsed: 0,
    randomizedElectionTimeout: cfg.electionTicks,
    outbox: [],
    readStates: [],
    incoming: null,
    readSeq: 0,
  };
  resetRandomizedElectionTimeout(node);
  return node;
}

const sameSoft = (a: SoftState, b: SoftState): boolean => a.role === b.role && a.leader === b.leader;
const sameHard = (a: HardState, b: HardState): boolean => a.term === b.term && a.vote === b.vote && a.commit === b.commit;

class Core implements RaftCore {
  private outstanding: Ready | null = null;
  private prevSoft: SoftState;
  /** The hard state last handed out (or loaded from storage). */
  private prevHard: HardState;

  constructor(private readonly node: RaftNode) {
    this.prevSoft = softStateOf(node);
    this.prevHard = node.cfg.storage.initialState().hardState;
  }

  tick(): void {
    tick(this.node);
  }

  step(message: Message): void {
    step(this.node, message);
  }

  propose(data: Uint8Array): RequestResult {
    return this.proposeBatch([{ kind: "normal", data }]);
  }

  proposeBatch(proposals: readonly Proposal[]): RequestResult {
    const node = this.node;
    const role = node.role;
    switch (role.kind) {
      case "leader":
        return leaderPropose(node, role.leader, proposals);
      case "follower": {
        if (node.leader === null) return noLeader("proposals");
        if (node.cfg.disableProposalForwarding) {
          return { ok: false, reason: "forwarding-disabled", detail: `proposals are not forwarded: propose on the leader ${node.leader}` };
        }
        if (proposals.length > 0) send(node, { type: "propose", to: node.leader, term: asTerm(0), proposals });
        return OK;
      }
      case "pre-candidate":
      case "candidate":
        return { ok: false, reason: "no-leader", detail: "an election is under way" };
      default:
        return assertNever(role, "role");
    }
  }

  proposeMembershipChange(change: ConfChange): RequestResult {
    return this.proposeBatch([{ kind: "conf-change", change }]);
  }

  readIndex(context: Uint8Array): RequestResult {
    const node = this.node;
    const role = node.role;
    switch (role.kind) {
      case "leader":
        leaderRead(node, role.leader, node.id, context);
        return OK;
      case "follower": {
        if (node.leader === null) return noLeader("reads");
        send(node, { type: "read-index", to: node.leader, term: asTerm(0), context });
        return OK;
      }
      case "pre-candidate":
      case "candidate":
        return { ok: false, reason: "no-leader", detail: "an election is under way" };
      default:
        return assertNever(role, "role");
    }
  }

  transferLeadership(to: NodeId): RequestResult {
    const node = this.node;
    const role = node.role;
    switch (role.kind) {
      case "leader":
        return leaderTransfer(node, role.leader, to);
      case "follower": {
        if (node.leader === null) return noLeader("transfer requests");
        send(node, { type: "transfer-leader", to: node.leader, term: asTerm(0), target: to });
        return OK;
      }
      case "pre-candidate":
      case "candidate":
        return { ok: false, reason: "no-leader", detail: "an election is under way" };
      default:
        return assertNever(role, "role");
    }
  }

  campaign(): void {
    hup(this.node, false);
  }

  forgetLeader(): boolean {
    const node = this.node;
    if (node.role.kind !== "follower" || node.leader === null || node.cfg.readOnly === "lease") return false;
    node.leader = null;
    return true;
  }

  reportUnreachable(peer: NodeId): void {
    const pr = leaderStateOf(this.node)?.progress.get(peer);
    if (pr !== undefined && pr.state === "replicate") pr.becomeProbe();
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const node = this.node;
    const u = node.log.unstable;
    return (
      !sameSoft(softStateOf(node), this.prevSoft) ||
      !sameHard(hardStateOf(node), this.prevHard) ||
      u.nextSnapshot() !== null ||
      u.offsetInProgress < u.offset + u.entries.length ||
      node.outbox.length > 0 ||
      leaderStateOf(node)?.appendsPending === true ||
      node.readStates.length > 0 ||
      node.log.hasNextCommitted()
    );
  }

  ready(): Ready {
    invariant(this.outstanding === null, "ready() called again before advance() of the previous Ready");
    const node = this.node;
    const leader = leaderStateOf(node);
    if (leader?.appendsPending === true) bcastAppend(node, leader);
    const soft = softStateOf(node);
    const hard = hardStateOf(node);
    const snapshot = node.log.unstable.nextSnapshot();
    const entries = node.log.unstable.nextEntries();
    const committed = node.log.nextCommitted(node.cfg.maxCommittedBytesPerReady);
    const rd: Ready = {
      softState: sameSoft(soft, this.prevSoft) ? null : soft,
      hardState: sameHard(hard, this.prevHard) ? null : hard,
      snapshot,
      entries,
      messages: node.outbox,
      committed,
      readStates: node.readStates,
      mustSync: snapshot !== null || entries.length > 0 || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    node.log.unstable.acceptInProgress();
    const lastCommitted = committed[committed.length - 1];
    if (lastCommitted !== undefined) node.log.applying = lastCommitted.index;
    node.outbox = [];
    node.readStates = [];
    this.prevSoft = soft;
    this.prevHard = hard;
    this.outstanding = rd;
    return rd;
  }

  advance(ready: Ready): void {
    invariant(this.outstanding === ready, "advance() must be given the Ready returned by the last ready()");
    this.outstanding = null;
    const node = this.node;
    if (ready.snapshot !== null) {
      node.log.unstable.stableSnapTo(ready.snapshot.meta.index);
      node.log.appliedTo(ready.snapshot.meta.index);
    }
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) node.log.unstable.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = ready.committed[ready.committed.length - 1];
    const leader = leaderStateOf(node);
    if (lastCommitted !== undefined) {
      node.log.appliedTo(lastCommitted.index);
      if (leader !== null) {
        const bytes = ready.committed.reduce((n, e) => n + entryPayloadSize(e), 0);
        leader.uncommittedBytes = Math.max(0, leader.uncommittedBytes - bytes);
      }
    }
    node.conf.compactTo(node.log.applied);
    if (leader !== null) {
      updateSelfMatch(node, leader);
      maybeCommitAndPropagate(node, leader);
    }
  }

  status(): RaftStatus {
    const node = this.node;
    const leader = leaderStateOf(node);
    let progress: Map<NodeId, PeerProgress> | null = null;
    if (leader !== null) {
      progress = new Map();
      for (const id of [...leader.progress.keys()].sort()) {
        const pr = leader.progress.get(id);
        if (pr === undefined) continue;
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, inflight: pr.inflights.count });
      }
    }
    return {
      id: node.id,
      role: node.role.kind,
      term: node.term,
      vote: node.vote,
      leader: node.leader,
      commit: node.log.committed,
      applied: node.log.applied,
      lastIndex: node.log.lastIndex(),
      conf: node.conf.current(),
      progress,
      transferee: leader?.transferee ?? null,
    };
  }

  hardState(): HardState {
    return hardStateOf(this.node);
  }
}
