/**
 * A `strong`-mode server as the node service serves it ({@link ServedEngine}, `service/engine.ts`):
 * a {@link RaftNode} on the file storage of the node's data folder.
 *
 * - Writes are committed commands: acknowledged (`committed`) once a quorum holds them and this
 *   node applied them. In a client session they apply at most once (`sessions.ts`).
 * - Reads are linearizable by default: a ReadIndex round (thesis 6.4) confirms the leader still
 *   leads, then the read is served once this node applied that far, on the leader or on a follower
 *   alike. `local` reads are served from this node's state as it is (possibly stale; `maxStalenessMs`
 *   bounds how long ago it heard its leader). `after` waits for a session's position.
 * - The minority side refuses: a node with no leader answers `Unavailable` at once; a leader cut
 *   off from its quorum steps down within an election timeout (check-quorum), failing what waits.
 * - Admin: learners, promotion, removal, leadership transfer, one membership change at a time.
 */
import { ConcordError, isConcordError } from "../errors.js";
import { asDocId } from "../ids.js";
import { changesByDoc, docView } from "../kv/doc-keys.js";
import type { ServerLog } from "../ops/log.js";
import { Histogram, single, type MetricFamily, type Sample } from "../ops/prometheus.js";
import { seededRng } from "../rng.js";
import type { EngineContext, EngineFactory, EngineHealth, EngineListener, EngineReceipt, EngineView, EngineWrite, ServedEngine } from "../service/engine.js";
import type { AdminAction, ReadOptions, WirePosition, WireReadInfo } from "../service/protocol.js";
import { docFolderName, joinPath } from "../storage/file-layout.js";
import { fileStorage } from "../storage/file-storage.js";
import type { DocStorage } from "../storage/storage.js";
import { invalidNodeIdReason } from "./raft/codec-primitives.js";
import { asNodeId, type ConfChange } from "./raft/types.js";
import { RaftNode, type RaftTimingOptions } from "./raft-node.js";
import type { AppliedEntry } from "./state-machine.js";

/** The document a strong node keeps its Raft log in, under its data folder. */
export const RAFT_DOC = asDocId("raft");

/** How long an admin action may take before it answers `Timeout`, in ms. */
const ADMIN_TIMEOUT_MS = 10_000;
/** How long a write or a session waits for its commit before answering `Timeout` (of unknown outcome), in ms. */
const COMMIT_TIMEOUT_MS = 10_000;

/** How a strong node starts. */
export interface StrongEngineOptions extends RaftTimingOptions {
  /** The founding members (this node among them) when the log is empty; absent: join an existing cluster. */
  readonly bootstrap?: readonly string[];
}

/**
 * Opens a strong node on `<dataDir>/raft`.
 * @throws ConcordError `Corrupt` naming the damaged log and what to do; `Io` when the folder can't be used.
 */
export function strongEngine(options: StrongEngineOptions): EngineFactory<StrongEngine> {
  return async (ctx: EngineContext) => {
    const folder = joinPath(ctx.dataDir, docFolderName(RAFT_DOC));
    let storage: DocStorage | undefined;
    const fsync = new Histogram();
    try {
      storage = await fileStorage(ctx.dataDir, { fsync: "always", clock: ctx.clock, blockingAppends: true }).open(RAFT_DOC);
      const node = await RaftNode.open({
        ...options,
        id: ctx.id,
        storage,
        transport: ctx.transport,
        clock: ctx.clock,
        rng: seededRng(Math.floor(Math.random() * 2 ** 32)),
        log: (event, fields) => logAt(ctx.log, event, fields),
        onFsync: (seconds) => fsync.observe(seconds),
      });
      return new StrongEngine(node, fsync);
    } catch (e) {
      await storage?.close().catch(() => undefined); // the failure to report is `e`
      throw isConcordError(e, "Corrupt") ? damagedLog(e, folder) : e;
    }
  };
}

function logAt(log: ServerLog, event: string, fields: Record<string, unknown>): void {
  if (event === "node.failed" || event === "node.listener_error") log.error(event, fields);
  else if (event === "raft.bad_message" || event === "raft.misaddressed" || event === "raft.invalid_entry" || event === "raft.term_jump") log.warn(event, fields);
  else log.info(event, fields);
}

/** `e` (a damaged file, or a record that does not decode) with where it is, when it does not say, and what to do about it. */
function damagedLog(e: ConcordError, folder: string): ConcordError {
  const where = e.message.startsWith(folder) ? "" : `${folder}: `;
  return new ConcordError(
    "Corrupt",
    `${where}${e.message.replace(/\.?$/, "")}. The node's Raft log is damaged, so it does not start: restore the folder from a backup, or remove this node from the cluster (concord admin remove), move the folder aside and add the node back as a learner with an empty folder (it copies the leader's state)`,
    { ...e.details, folder },
    { cause: e },
  );
}

/** A {@link RaftNode} behind the {@link ServedEngine} port. Owns the node. */
export class StrongEngine implements ServedEngine {
  readonly node: RaftNode;
  readonly #fsync: Histogram;

  constructor(node: RaftNode, fsync = new Histogram()) {
    this.node = node;
    this.#fsync = fsync;
  }

  get id(): string {
    return this.node.id;
  }

  get failure(): ConcordError | null {
    return this.node.failure;
  }

  view(doc: string): EngineView {
    return docView(() => this.node.stateMachine.state, doc);
  }

  freshness(): WireReadInfo {
    const st = this.node.status();
    const sm = this.node.stateMachine;
    const silent = this.node.silentMs();
    return {
      role: st.role === "leader" ? "leader" : "follower",
      position: { epoch: sm.term, lsn: sm.index },
      lagLsn: Math.max(0, st.commit - sm.index),
      silentMs: silent === Number.POSITIVE_INFINITY ? -1 : Math.ceil(silent),
    };
  }

  readable(read: ReadOptions): Promise<void> | undefined {
    const waits: Promise<void>[] = [];
    if (read.after !== null && read.after.lsn > this.node.stateMachine.index) waits.push(this.node.whenApplied(read.after.lsn, read.timeoutMs));
    if (read.consistency === "linearizable") waits.push(this.node.readIndex(read.timeoutMs));
    else this.#checkStaleness(read.maxStalenessMs);
    if (waits.length === 0) return undefined;
    return Promise.all(waits).then(() => undefined);
  }

  async write(w: EngineWrite): Promise<EngineReceipt> {
    if (w.durability.level !== "committed") {
      throw new ConcordError("InvalidArgument", `a strong-mode write is acknowledged once a quorum committed it: durability "committed", not "${w.durability.level}"`, {
        durability: w.durability.level,
      });
    }
    const applied = await this.node.propose((tag) => ({ kind: "write", tag, doc: w.doc, conditions: w.conditions, ops: w.ops, session: w.session }), COMMIT_TIMEOUT_MS);
    if (applied.kind === "refused") throw applied.error;
    if (applied.kind !== "write") throw new ConcordError("Protocol", `the write's entry applied as ${applied.kind}`);
    return { position: { epoch: applied.answer.term, lsn: applied.answer.index }, replicas: [], succeeded: applied.answer.succeeded };
  }

  holds(p: WirePosition): boolean {
    const sm = this.node.stateMachine;
    if (p.lsn > sm.index) return false;
    if (p.lsn === 0) return true;
    if (p.lsn === sm.index) return p.epoch === sm.term;
    const term = this.node.termAt(p.lsn);
    return term === undefined || term === p.epoch;
  }

  subscribe(listener: EngineListener): () => void {
    return this.node.listen({
      applied: (r: AppliedEntry, e) => {
        if (r.kind !== "write" || r.changes.length === 0) return;
        listener({ doc: r.doc, changes: r.changes, position: { epoch: e.term, lsn: e.index }, bytes: e.kind === "normal" ? e.data.byteLength : 0, replaced: false });
      },
      installed: (before, after) => {
        const position = { epoch: after.term, lsn: after.index };
        const byDoc = changesByDoc(before.state.diff(after.state));
        if (byDoc.size === 0) listener({ doc: "", changes: [], position, bytes: 0, replaced: true });
        for (const [doc, changes] of byDoc) listener({ doc, changes, position, bytes: 0, replaced: true });
      },
    });
  }

  async openSession(): Promise<number> {
    const applied = await this.node.propose((tag) => ({ kind: "open-session", tag }), COMMIT_TIMEOUT_MS);
    if (applied.kind !== "session-opened") throw new ConcordError("Protocol", `the session's entry applied as ${applied.kind}`);
    return applied.session;
  }

  async admin(action: AdminAction): Promise<WirePosition> {
    if (action.type === "promote") {
      throw new ConcordError("InvalidArgument", `promote is primary mode's; to make another node lead a strong-mode cluster, transfer leadership to it`, { action: action.type });
    }
    const reason = invalidNodeIdReason(action.node);
    if (reason !== null) throw new ConcordError("InvalidArgument", `${action.type}: the node id ${reason}`, { node: action.node });
    const node = asNodeId(action.node);
    if (action.type === "transfer") {
      await this.node.transferLeadership(node, ADMIN_TIMEOUT_MS);
      const st = this.node.status();
      return { epoch: st.term, lsn: st.commit };
    }
    const change: ConfChange =
      action.type === "add-learner" ? { type: "add-learner", node } : action.type === "promote-learner" ? { type: "promote", node } : { type: "remove", node };
    const entry = await this.node.changeMembership(change, ADMIN_TIMEOUT_MS);
    return { epoch: entry.term, lsn: entry.index };
  }

  status(): Readonly<Record<string, unknown>> {
    const st = this.node.status();
    const sm = this.node.stateMachine;
    return {
      id: this.node.id,
      role: st.role,
      term: st.term,
      leader: st.leader,
      commit: st.commit,
      applied: sm.index,
      lastIndex: st.lastIndex,
      voters: st.conf.voters,
      learners: st.conf.learners,
      sessions: sm.sessions.size,
    };
  }

  health(): EngineHealth {
    const st = this.node.status();
    const sm = this.node.stateMachine;
    return {
      // etcd's /health answers unhealthy without a leader: this node can serve nothing linearizable then.
      serving: this.node.failure === null && st.leader !== null,
      fields: {
        role: st.role,
        term: st.term,
        leader: st.leader,
        commit: st.commit,
        applied: sm.index,
        lastIndex: st.lastIndex,
        voters: st.conf.voters,
        learners: st.conf.learners,
        dropped: this.node.counters.dropped,
      },
    };
  }

  metrics(): readonly MetricFamily[] {
    const st = this.node.status();
    const c = this.node.counters;
    const roles: Sample[] = (["leader", "follower", "candidate", "pre-candidate"] as const).map((role) => [{ role }, st.role === role ? 1 : 0]);
    return [
      { name: "concord_raft_info", type: "gauge", help: "This node's id and the leader it knows (empty when none); always 1.", samples: [[{ id: this.node.id, leader: st.leader ?? "" }, 1]] },
      { name: "concord_raft_role", type: "gauge", help: "1 for the role this node has now, 0 for the others.", samples: roles },
      single("concord_raft_term", "gauge", "The current Raft term.", st.term),
      single("concord_raft_commit_index", "gauge", "The highest log index known committed.", st.commit),
      single("concord_raft_applied_index", "gauge", "The highest log index the state machine applied.", this.node.stateMachine.index),
      single("concord_raft_has_leader", "gauge", "1 when this node knows a leader.", st.leader === null ? 0 : 1),
      single("concord_raft_failed", "gauge", "1 when the node's storage failed: it serves nothing until restarted.", this.node.failure === null ? 0 : 1),
      single("concord_raft_proposals_total", "counter", "Commands proposed through this node.", c.proposals),
      single("concord_raft_elections_total", "counter", "Times this node became a candidate.", c.elections),
      single("concord_raft_leader_changes_total", "counter", "Times the leader this node knows changed.", c.leaderChanges),
      single("concord_raft_dropped_messages_total", "counter", "Peer messages dropped: frames that do not decode, and messages a node must not send.", c.dropped),
      { name: "concord_raft_fsync_seconds", type: "histogram", help: "Time to make one Ready durable (write and fsync of the Raft log).", histogram: this.#fsync.snapshot() },
    ];
  }

  close(): Promise<void> {
    return this.node.close();
  }

  #checkStaleness(max: number | null): void {
    if (max === null) return;
    const silent = this.node.silentMs();
    if (silent <= max) return;
    const leader = this.node.status().leader;
    const heard = silent === Number.POSITIVE_INFINITY ? "has never heard a leader" : `last heard its leader ${Math.ceil(silent)} ms ago`;
    throw new ConcordError("Stale", `node ${this.node.id} ${heard} (${leader ?? "none known"}); the read allows at most ${max} ms`, { silentMs: silent, maxStalenessMs: max });
  }
}
