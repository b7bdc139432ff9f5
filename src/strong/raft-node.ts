/**
 * The driver of a `strong` server: the pure Raft core (`raft/`) run against real (or simulated)
 * time, a durable log on a {@link DocStorage} and a {@link Transport} to its peers, applying
 * committed entries to the state machine (`state-machine.ts`).
 *
 * The Ready cycle (`raft/ready.ts`), one Ready at a time:
 *   1. persist: the snapshot (a `compact` of the storage: it replaces every record before it), the
 *      entries (a record; a conflicting suffix is dropped by recovery and by the in-memory log),
 *      the hard state; the storage's promise is the fsync. A Ready that moves only the commit
 *      index (`mustSync` false) writes nothing: the index rides along with the next record (a
 *      restarted node learns it again from its leader, as etcd's WAL does not fsync it either).
 *      A leader sends its appends, heartbeats and snapshot chunks BEFORE persisting (thesis
 *      10.2.1: its disk write runs in parallel with its followers'); its own progress counts only
 *      entries durable here, so nothing commits on the strength of its unwritten log;
 *   2. only then send its other messages (a vote or an append ack promises durable state);
 *   3. apply its committed entries, in order, telling each proposer and every listener;
 *   4. serve its read states once applied;
 *   5. advance, and take the next Ready.
 * Ticks, messages and requests go on reaching the core while a Ready is being persisted.
 *
 * The log is compacted into a snapshot of the state machine every `snapshotEntries` applied
 * entries, keeping the last `keepEntries` of them for followers a little behind (those further
 * behind get the snapshot, in chunks). The same driver runs over the file storage, a real clock and
 * the WebSocket mesh (`concord node --mode strong`), and over the simulator's disk, clock and network.
 *
 * A storage failure stops the node for good (fail-stop): it answers nothing more, and only a
 * restart, which recovers from what is durable, brings it back.
 */
import type { Clock } from "../clock.js";
import { CoreLoop } from "../core-loop.js";
import { ConcordError, isConcordError } from "../errors.js";
import { asPeerId, type PeerId } from "../ids.js";
import type { Transport } from "../net/transport.js";
import type { Rng } from "../rng.js";
import type { DocStorage } from "../storage/storage.js";
import type { CommandTag, StrongCommand } from "./commands.js";
import { encodeCommand } from "./commands.js";
import { decodeMessage, encodeMessage } from "./raft/codec.js";
import type { RaftCore, RaftStatus, RequestResult } from "./raft/core.js";
import { bootstrapEntries } from "./raft/membership.js";
import type { MemoryRaftStorage } from "./raft/memory-storage.js";
import type { Message } from "./raft/messages.js";
import { createRaft } from "./raft/raft.js";
import type { Ready } from "./raft/ready.js";
import { asIndex, asNodeId, type ConfChange, type Entry, type NodeId } from "./raft/types.js";
import { encodeLogSnapshot, encodeReadyRecord, recoverRaftLog } from "./raft-wal.js";
import { StrongStateMachine, type AppliedEntry } from "./state-machine.js";

/** How a Raft server keeps time and its log (every field has a default). */
export interface RaftTimingOptions {
  /** Milliseconds per Raft tick. Default 100 (etcd's heartbeat interval). */
  readonly tickMs?: number;
  /** Election timeout in ticks (a follower campaigns after [e, 2e) ticks of silence). Default 10 (1 s, etcd's). */
  readonly electionTicks?: number;
  /** Heartbeat interval in ticks. Default 1. */
  readonly heartbeatTicks?: number;
  /** "safe" (default): linearizable reads confirm leadership with a heartbeat round; "lease": the leader answers from its lease (thesis 6.4.1). */
  readonly readOnly?: "safe" | "lease";
  /** Applied entries between two snapshots of the state machine. Default 10 000. */
  readonly snapshotEntries?: number;
  /** Entries kept in the log behind a snapshot, for followers a little behind. Default 5 000. */
  readonly keepEntries?: number;
  /** Payload bytes of uncommitted entries a leader holds before it refuses proposals. Default 64 MiB. */
  readonly maxUncommittedBytes?: number;
  /** Sessions the state machine keeps at once (the least recently used expires). Default 10 000. */
  readonly maxSessions?: number;
}

/** Options of {@link RaftNode.open}. */
export interface RaftNodeOptions extends RaftTimingOptions {
  readonly id: PeerId;
  readonly storage: DocStorage;
  /** Owned by the node from now on (closed by `close`). */
  readonly transport: Transport;
  readonly clock: Clock;
  /** Election jitter and the proposer number. */
  readonly rng: Rng;
  /**
   * The founding members of a new cluster, the same list on each of them: used only when the log is
   * empty. Absent: the node joins an existing cluster (an operator adds it as a learner).
   */
  readonly bootstrap?: readonly string[];
  /** Structured events: elections, snapshots, dropped messages, failure. */
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
  /** Hears the time each durable write took, in seconds (`/metrics`). */
  readonly onFsync?: (seconds: number) => void;
}

/** What the node tells its listeners about what it applies. */
export interface RaftNodeEvents {
  /** One committed entry was applied (`entry`: its index, term and size). */
  applied(result: AppliedEntry, entry: Entry): void;
  /** The state machine was replaced by a snapshot from the leader (`before`: the state machine it replaced). */
  installed(before: StrongStateMachine, after: StrongStateMachine): void;
}

/** Counts for `/metrics`. */
export interface RaftCounters {
  proposals: number;
  /** Times this node became a candidate. */
  elections: number;
  /** Times the leader this node knows changed. */
  leaderChanges: number;
  /** Peer messages that did not decode, or that a node must not send (dropped). */
  dropped: number;
}

/**
 * The most a peer's term may be ahead of this node's for its message to be taken: terms grow by
 * one an election, and with pre-vote only when an election can win, so a correct peer is never
 * this far ahead; a forged term of 2^53 - 1 would leave the cluster no term to elect a leader in.
 */
export const MAX_TERM_JUMP = 10_000;

/**
 * Liveness of a Raft server's peer links: a keepalive every tick, and a link silent for two
 * election timeouts dropped (a leader sends something every tick; a dead link is then found long
 * before TCP gives up, and a slow event loop does not drop a healthy one).
 */
export function raftPeerLiveness(o: RaftTimingOptions = {}): { everyMs: number; deadAfterMs: number } {
  const tickMs = o.tickMs ?? DEFAULTS.tickMs;
  return { everyMs: tickMs, deadAfterMs: 2 * (o.electionTicks ?? DEFAULTS.electionTicks) * tickMs };
}

const DEFAULTS = {
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  readOnly: "safe",
  snapshotEntries: 10_000,
  keepEntries: 5_000,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxSessions: 10_000,
} as const;

/**
 * A leader's replication messages, which may leave before its own log is durable (thesis 10.2.1):
 * they promise nothing about the sender's disk. Only leaders send them.
 */
const isReplication = (m: Message): boolean => m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
const notReplication = (m: Message): boolean => !isReplication(m);
const anyMessage = (): boolean => true;

interface Waiter<T> {
  readonly resolve: (v: T) => void;
  readonly reject: (e: ConcordError) => void;
}

/** A running Raft server (see the module comment). */
export class RaftNode {
  readonly id: PeerId;
  readonly counters: RaftCounters = { proposals: 0, elections: 0, leaderChanges: 0, dropped: 0 };
  readonly #o: RaftNodeOptions;
  readonly #loop: CoreLoop<RaftCore>;
  readonly #mem: MemoryRaftStorage;
  readonly #proposer: number;
  readonly #snapshotEntries: number;
  readonly #keepEntries: number;
  #sm: StrongStateMachine;
  #proposalCount = 0;
  #readCount = 0;
  /** A Ready is being persisted. */
  #persisting = false;
  /** The in-memory hard state moved past the durable one (only its commit index): the next record carries it. */
  #hardStateBehind = false;
  #failure: ConcordError | null = null;
  #closed = false;
  /** Clock time the leader was last heard from (a follower's staleness), or null when never. */
  #leaderHeardAt: number | null = null;
  readonly #proposals = new Map<number, Waiter<AppliedEntry>>();
  /** Read contexts (as numbers) waiting for their read state. */
  readonly #reads = new Map<number, Waiter<number>>();
  /** Read indexes waiting to be applied: [index, resolve]. */
  #readsToApply: { index: number; resolve: () => void }[] = [];
  /** Waiters for the next applied conf-change entry. */
  readonly #confWaiters = new Set<(e: Entry) => void>();
  /** Told whenever the leader this node knows changes, and when the node stops. */
  readonly #leaderWaiters = new Set<() => void>();
  readonly #listeners = new Set<RaftNodeEvents>();
  #lastRole: string;
  #lastLeader: NodeId | null;

  private constructor(o: RaftNodeOptions, mem: MemoryRaftStorage, sm: StrongStateMachine, core: RaftCore) {
    this.id = o.id;
    this.#o = o;
    this.#mem = mem;
    this.#sm = sm;
    this.#proposer = Math.floor(o.rng.next() * 2 ** 52);
    this.#snapshotEntries = o.snapshotEntries ?? DEFAULTS.snapshotEntries;
    this.#keepEntries = o.keepEntries ?? DEFAULTS.keepEntries;
    const st = core.status();
    this.#lastRole = st.role;
    this.#lastLeader = st.leader;
    this.#loop = new CoreLoop(core, o.clock, o.tickMs ?? DEFAULTS.tickMs, () => this.#pump());
  }

  /**
   * Recovers a server from its storage and starts it: an empty log with `bootstrap` starts a new
   * cluster of those members; an empty log without it waits to be added.
   * @throws ConcordError `Corrupt` (naming the record) for a damaged log, `InvalidArgument` for bad options.
   */
  static async open(o: RaftNodeOptions): Promise<RaftNode> {
    const stored = await o.storage.load();
    const mem = recoverRaftLog(stored);
    if (mem.lastIndex() === 0 && o.bootstrap !== undefined && o.bootstrap.length > 0) {
      const voters = [...new Set(o.bootstrap)].sort().map((m) => asNodeId(m));
      const { entries, hardState } = bootstrapEntries({ voters, learners: [] });
      await o.storage.append(encodeReadyRecord({ entries, hardState }));
      mem.append(entries);
      mem.setHardState(hardState);
    }
    const snap = mem.snapshot();
    let sm: StrongStateMachine;
    try {
      sm = snap.meta.index === 0 ? new StrongStateMachine(undefined, undefined, 0, 0) : StrongStateMachine.decode(snap.data, o.maxSessions);
    } catch (e) {
      throw new ConcordError("Corrupt", `raft log: the snapshot at index ${snap.meta.index} holds no state machine: ${e instanceof Error ? e.message : String(e)}`, { index: snap.meta.index }, { cause: e });
    }
    const core = createRaft({
      id: asNodeId(o.id),
      storage: mem,
      rng: o.rng,
      electionTicks: o.electionTicks ?? DEFAULTS.electionTicks,
      heartbeatTicks: o.heartbeatTicks ?? DEFAULTS.heartbeatTicks,
      readOnly: o.readOnly ?? DEFAULTS.readOnly,
      maxUncommittedBytes: o.maxUncommittedBytes ?? DEFAULTS.maxUncommittedBytes,
      applied: asIndex(sm.index),
    });
    const node = new RaftNode(o, mem, sm, core);
    o.transport.listen({
      message: (from, bytes) => node.#onMessage(from, bytes),
      up: () => undefined,
      down: (peer) => node.#peerDown(peer),
    });
    node.#pump();
    return node;
  }

  /** The state machine as of the last applied entry. Do not mutate. */
  get stateMachine(): StrongStateMachine {
    return this.#sm;
  }

  /** What stopped the node for good (its storage failed), or null. */
  get failure(): ConcordError | null {
    return this.#failure;
  }

  status(): RaftStatus {
    return this.#loop.core.status();
  }

  /** Milliseconds since this node last heard its leader: 0 on the leader, Infinity when never. */
  silentMs(): number {
    if (this.status().role === "leader") return 0;
    return this.#leaderHeardAt === null ? Number.POSITIVE_INFINITY : this.#o.clock.now() - this.#leaderHeardAt;
  }

  /** Index of the first entry the log holds in memory (the one after the latest snapshot's compaction point). */
  firstIndex(): number {
    return this.#mem.firstIndex();
  }

  /** Term of the entry at `index` if the log still holds it, else undefined. */
  termAt(index: number): number | undefined {
    const t = this.#mem.term(asIndex(index));
    return typeof t === "number" ? t : undefined;
  }

  /** Hears every applied entry and snapshot install. Returns the unsubscribe function. */
  listen(events: RaftNodeEvents): () => void {
    this.#listeners.add(events);
    return () => this.#listeners.delete(events);
  }

  /**
   * Proposes `make(tag)` and resolves with what applying it did, once committed and applied here.
   * Rejects at once when the core refuses it (`NotLeader`/`Unavailable`), with `Timeout` after
   * `timeoutMs` (the command may still commit later), with `Unavailable` when this node loses its
   * leader meanwhile (ditto), `Closed`, or the storage's failure.
   */
  propose(make: (tag: CommandTag) => StrongCommand, timeoutMs: number): Promise<AppliedEntry> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    const n = ++this.#proposalCount;
    const data = encodeCommand(make({ proposer: this.#proposer, n }));
    if (data.byteLength + 64 > this.#o.storage.maxRecordBytes) {
      return Promise.reject(new ConcordError("TooLarge", `the write takes ${data.byteLength} bytes; the log takes entries up to ${this.#o.storage.maxRecordBytes - 64}`, { bytes: data.byteLength }));
    }
    const ask = (c: RaftCore): RequestResult => {
      const r = c.propose(data);
      if (r.ok) this.counters.proposals++;
      return r;
    };
    return this.#request(this.#proposals, n, timeoutMs, ask, {
      refused: "the write was not applied",
      what: "commit of the write",
      fate: "the write may or may not apply: retry it in its session, or read it back",
    });
  }

  /**
   * A linearizable read point (thesis 6.4): resolves once this node's state machine has applied
   * everything committed when the read arrived at the leader, so that a read served from it now
   * sees every write acknowledged before. Rejects at once without a leader, with `Unavailable` when
   * leadership cannot be confirmed within `timeoutMs` or is lost meanwhile.
   */
  readIndex(timeoutMs: number): Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    const n = ++this.#readCount;
    const context = new Uint8Array(8);
    new DataView(context.buffer).setFloat64(0, n);
    return this.#request(this.#reads, n, timeoutMs, (c) => c.readIndex(context), {
      refused: "nothing was read",
      what: "confirmation of leadership for a linearizable read",
      fate: "nothing was read",
    }).then(
      (index) =>
        new Promise<void>((resolve) => {
          if (this.#sm.index >= index) resolve();
          else this.#readsToApply.push({ index, resolve });
        }),
    );
  }

  /**
   * Resolves once the state machine applied `index`; rejects with `Timeout` after `timeoutMs`
   * (read-your-writes: the index of a client's last write, on any node).
   */
  whenApplied(index: number, timeoutMs: number): Promise<void> {
    if (this.#sm.index >= index) return Promise.resolve();
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => {
      const entry = { index, resolve: () => (cancel(), resolve()) };
      const cancel = this.#o.clock.setTimer(timeoutMs, () => {
        this.#readsToApply = this.#readsToApply.filter((r) => r !== entry);
        reject(new ConcordError("Timeout", `node ${this.id} has not applied index ${index} after ${timeoutMs} ms (it is at ${this.#sm.index})`, { index, applied: this.#sm.index }));
      });
      this.#readsToApply.push(entry);
    });
  }

  /** Proposes one membership change; resolves once its entry is applied here (it takes effect when appended). */
  changeMembership(change: ConfChange, timeoutMs: number): Promise<Entry> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    let result: RequestResult = { ok: true };
    this.#loop.input((c) => {
      result = c.proposeMembershipChange(change);
    });
    if (!result.ok) return Promise.reject(this.#refused(result, "the membership did not change"));
    return new Promise<Entry>((resolve, reject) => {
      const done = (e: Entry): void => {
        if (e.kind !== "conf-change" || e.change.type !== change.type || e.change.node !== change.node) return;
        this.#confWaiters.delete(done);
        cancel();
        resolve(e);
      };
      const cancel = this.#o.clock.setTimer(timeoutMs, () => {
        this.#confWaiters.delete(done);
        reject(new ConcordError("Timeout", `the ${change.type} of ${change.node} was not applied within ${timeoutMs} ms; it may still take effect: check the membership`, { change }));
      });
      this.#confWaiters.add(done);
    });
  }

  /** Asks the leader to hand leadership to `to`; resolves once this node knows `to` leads. */
  transferLeadership(to: NodeId, timeoutMs: number): Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    let result: RequestResult = { ok: true };
    this.#loop.input((c) => {
      result = c.transferLeadership(to);
    });
    if (!result.ok) return Promise.reject(this.#refused(result, "leadership did not move"));
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const failed = this.#refusal();
        if (this.status().leader !== to && failed === null) return;
        this.#leaderWaiters.delete(check);
        cancel();
        if (failed === null) resolve();
        else reject(failed);
      };
      const cancel = this.#o.clock.setTimer(timeoutMs, () => {
        this.#leaderWaiters.delete(check);
        reject(new ConcordError("Timeout", `${to} did not take over leadership within ${timeoutMs} ms (the leader is ${this.status().leader ?? "unknown"})`, { to }));
      });
      this.#leaderWaiters.add(check);
      check();
    });
  }

  /** Stops: pending requests reject with `Closed`; the storage is flushed and closed; the transport closed. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#loop.stop();
    this.#rejectAll(new ConcordError("Closed", `node ${this.id} was closed`));
    this.#o.transport.close();
    await this.#o.storage.close();
  }

  /**
   * The process died (the simulator's crash): no more ticks, inputs, sends or applies; the
   * transport closes (peers see it go); the storage is NOT flushed or closed, and nothing waiting
   * is told: a dead process tells no one. Only for simulations, with a disk that crashed too.
   */
  halt(): void {
    this.#closed = true;
    this.#loop.stop();
    this.#o.transport.close();
  }

  #refusal(): ConcordError | null {
    if (this.#closed) return new ConcordError("Closed", `node ${this.id} was closed`);
    return this.#failure;
  }

  #refused(r: Extract<RequestResult, { ok: false }>, fate: string): ConcordError {
    const leader = this.status().leader;
    const detail = r.detail === undefined ? "" : `: ${r.detail}`;
    switch (r.reason) {
      case "no-leader":
        return new ConcordError("Unavailable", `node ${this.id} knows no leader (an election is under way, or this node is cut off from a majority)${detail}; ${fate}`, { reason: r.reason });
      case "forwarding-disabled":
        return new ConcordError("NotLeader", `node ${this.id} does not forward to the leader ${leader}${detail}; ${fate}`, { reason: r.reason, leader });
      case "not-member":
        return new ConcordError("Unavailable", `node ${this.id} is not a voting member of the cluster${detail}; ${fate}`, { reason: r.reason });
      case "invalid-conf-change":
        return new ConcordError("InvalidArgument", `the membership change makes no sense${detail}; ${fate}`, { reason: r.reason });
      case "conf-change-pending":
        // Transient: the previous change (or, on a new leader, its log's last one) is not applied yet.
        return new ConcordError("Unavailable", `a membership change is already under way (one at a time): retry once it is applied${detail}; ${fate}`, { reason: r.reason });
      case "transferring":
      case "uncommitted-limit":
        return new ConcordError("Unavailable", `the leader refused for now (${r.reason})${detail}; ${fate}`, { reason: r.reason });
    }
  }

  /**
   * Hands `ask` to the core with a waiter for its answer in `map` under `n`, registered FIRST: the
   * core may answer within the same input (a lease read, a single-voter cluster), before `ask`
   * returns. A refusal removes the waiter and rejects; no answer within `timeoutMs` rejects with
   * `Timeout` (of unknown outcome).
   */
  #request<T>(map: Map<number, Waiter<T>>, n: number, timeoutMs: number, ask: (core: RaftCore) => RequestResult, words: { refused: string; what: string; fate: string }): Promise<T> {
    let result: RequestResult = { ok: true };
    const answered = new Promise<T>((resolve, reject) => {
      const cancel = this.#o.clock.setTimer(timeoutMs, () => {
        if (!map.delete(n)) return;
        reject(new ConcordError("Timeout", `no ${words.what} within ${timeoutMs} ms (leader: ${this.status().leader ?? "none known"}); ${words.fate}`, { outcome: "unknown" }));
      });
      map.set(n, {
        resolve: (v) => {
          cancel();
          resolve(v);
        },
        reject: (e) => {
          cancel();
          reject(e);
        },
      });
    });
    this.#loop.input((c) => {
      result = ask(c);
    });
    if (result.ok) return answered;
    map.get(n)?.reject(this.#refused(result, words.refused));
    map.delete(n);
    return answered;
  }

  /**
   * The connection to `peer` closed. A leader probes it from then on. A follower whose leader it
   * was forgets that leader (`forgetLeader`: a process that died closes its connections at once)
   * and campaigns a random moment within two ticks later unless it heard of a leader meanwhile:
   * when the leader is really gone, the followers that saw it go elect a new one without waiting
   * out an election timeout; when only the connection flapped, the others still hear the leader
   * and refuse the pre-vote, and this follower rejoins at the leader's next heartbeat.
   */
  #peerDown(peer: PeerId): void {
    this.#loop.input((c) => c.reportUnreachable(asNodeId(peer)));
    if (this.status().leader !== asNodeId(peer)) return;
    let forgot = false;
    this.#loop.input((c) => {
      forgot = c.forgetLeader();
    });
    if (!forgot) return;
    this.#log("raft.leader_gone", { leader: peer });
    // A random moment: two followers campaigning at once split the vote, which costs an election timeout.
    const delayMs = Math.floor(this.#o.rng.next() * 2 * (this.#o.tickMs ?? DEFAULTS.tickMs));
    this.#o.clock.setTimer(delayMs, () => {
      const st = this.status();
      if (st.role === "follower" && st.leader === null) this.#loop.input((c) => c.campaign());
    });
  }

  #onMessage(from: PeerId, bytes: Uint8Array): void {
    if (this.#closed || this.#failure !== null) return;
    let m: Message;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      this.counters.dropped++;
      this.#log("raft.bad_message", { from, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (m.from !== asNodeId(from) || m.to !== asNodeId(this.id)) {
      // A peer speaks only for itself, and only to us: anything else is forged or misrouted.
      this.counters.dropped++;
      this.#log("raft.misaddressed", { from, claims: m.from, to: m.to });
      return;
    }
    const term = this.status().term;
    if (m.term > term + MAX_TERM_JUMP) {
      // No correct server is this far ahead (pre-vote keeps terms from running away): a forged or
      // broken peer, which must not push the cluster's term toward 2^53 and wedge it.
      this.counters.dropped++;
      this.#log("raft.term_jump", { from, term: m.term, ours: term });
      return;
    }
    if (m.from === this.status().leader) this.#leaderHeardAt = this.#o.clock.now();
    this.#loop.input((c) => c.step(m));
  }

  #pump(): void {
    if (this.#persisting || this.#loop.stopped || this.#failure !== null) return;
    const core = this.#loop.core;
    this.#noteRole();
    while (core.hasReady() && !this.#persisting) {
      const rd = core.ready();
      if (rd.snapshot === null && rd.entries.length === 0 && !rd.mustSync) {
        if (rd.hardState !== null) {
          this.#mem.setHardState(rd.hardState);
          this.#hardStateBehind = true;
        }
        this.#finish(rd, anyMessage);
        continue;
      }
      this.#persisting = true;
      const started = this.#o.clock.now();
      this.#send(rd, isReplication);
      this.#o.transport.flush?.(); // the appends leave before a blocking fsync, not after it
      this.#persist(rd).then(
        () => {
          this.#o.onFsync?.((this.#o.clock.now() - started) / 1000);
          this.#persisting = false;
          if (this.#closed) return;
          try {
            this.#finish(rd, notReplication);
          } catch (e) {
            this.#fail(e);
            return;
          }
          this.#maybeSnapshot().then(
            () => this.#pump(),
            (e: unknown) => this.#fail(e),
          );
        },
        (e: unknown) => this.#fail(e),
      );
    }
  }

  async #persist(rd: Ready): Promise<void> {
    const storage = this.#o.storage;
    if (rd.snapshot !== null) {
      this.#hardStateBehind = false;
      const hardState = rd.hardState ?? this.#mem.hardState();
      await storage.compact(encodeLogSnapshot({ hardState, snapshot: rd.snapshot, entries: rd.entries }));
      this.#mem.applySnapshot(rd.snapshot);
      this.#mem.append(rd.entries);
      this.#mem.setHardState(hardState);
      return;
    }
    const hardState = rd.hardState ?? (this.#hardStateBehind ? this.#mem.hardState() : null);
    this.#hardStateBehind = false;
    await storage.append(encodeReadyRecord({ entries: rd.entries, hardState }));
    this.#mem.append(rd.entries);
    if (rd.hardState !== null) this.#mem.setHardState(rd.hardState);
  }

  #send(rd: Ready, which: (m: Message) => boolean): void {
    for (const m of rd.messages) if (which(m)) this.#o.transport.send(asPeerId(m.to), encodeMessage(m));
  }

  /** The part of a Ready after persistence: send (`which` of its messages), apply, serve reads, advance. */
  #finish(rd: Ready, which: (m: Message) => boolean): void {
    const core = this.#loop.core;
    this.#send(rd, which);
    if (rd.snapshot !== null) this.#install(rd.snapshot.data);
    for (const e of rd.committed) this.#apply(e);
    for (const rs of rd.readStates) {
      const n = new DataView(rs.context.buffer, rs.context.byteOffset, rs.context.byteLength).getFloat64(0);
      const w = this.#reads.get(n);
      if (w === undefined) continue;
      this.#reads.delete(n);
      w.resolve(rs.index);
    }
    this.#serveAppliedReads();
    core.advance(rd);
    this.#noteRole();
  }

  #install(data: Uint8Array): void {
    const before = this.#sm;
    this.#sm = StrongStateMachine.decode(data, this.#o.maxSessions);
    this.#log("raft.snapshot_installed", { index: this.#sm.index, term: this.#sm.term });
    for (const l of [...this.#listeners]) l.installed(before, this.#sm);
  }

  #apply(e: Entry): void {
    if (e.index <= this.#sm.index) return; // in a snapshot installed by this very Ready
    const result = this.#sm.apply(e);
    if (result.kind === "none") {
      if (result.invalid !== null) this.#log("raft.invalid_entry", { index: e.index, error: result.invalid });
      if (e.kind === "conf-change") for (const w of [...this.#confWaiters]) w(e);
    } else if (result.tag.proposer === this.#proposer) {
      const w = this.#proposals.get(result.tag.n);
      if (w !== undefined) {
        this.#proposals.delete(result.tag.n);
        w.resolve(result);
      }
    }
    for (const l of [...this.#listeners]) {
      try {
        l.applied(result, e);
      } catch (error) {
        this.#log("node.listener_error", { error: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  #serveAppliedReads(): void {
    if (this.#readsToApply.length === 0) return;
    const applied = this.#sm.index;
    const ready = this.#readsToApply.filter((r) => r.index <= applied);
    if (ready.length === 0) return;
    this.#readsToApply = this.#readsToApply.filter((r) => r.index > applied);
    for (const r of ready) r.resolve();
  }

  /** Every `snapshotEntries` applied entries: snapshot the state machine and compact the log. */
  async #maybeSnapshot(): Promise<void> {
    const applied = this.#sm.index;
    const snapIndex = this.#mem.snapshot().meta.index;
    if (applied - snapIndex < this.#snapshotEntries || this.#persisting) return;
    this.#persisting = true;
    try {
      const index = asIndex(applied);
      this.#mem.createSnapshot(index, this.#mem.confStateAt(index), this.#sm.encode());
      this.#mem.compact(asIndex(Math.max(snapIndex, applied - this.#keepEntries)));
      const held = this.#mem.entries(this.#mem.firstIndex(), asIndex(this.#mem.lastIndex() + 1), Number.POSITIVE_INFINITY);
      const entries = typeof held === "string" ? [] : held;
      await this.#o.storage.compact(encodeLogSnapshot({ hardState: this.#mem.hardState(), snapshot: this.#mem.snapshot(), entries }));
      this.#log("raft.snapshot", { index: applied, kept: entries.length });
    } finally {
      this.#persisting = false;
    }
  }

  /** Counts elections and leader changes; a node that lost its leader fails what waits on one. */
  #noteRole(): void {
    const st = this.#loop.core.status();
    if (st.role === "candidate" && this.#lastRole !== "candidate") this.counters.elections++;
    const changed = st.leader !== this.#lastLeader;
    if (changed) {
      this.counters.leaderChanges++;
      this.#log("raft.leader", { term: st.term, leader: st.leader, role: st.role });
      if (this.#lastLeader !== null) this.#leaderLost(st.leader);
      if (st.leader !== null && st.leader !== asNodeId(this.id)) this.#leaderHeardAt = this.#o.clock.now();
    }
    this.#lastRole = st.role;
    this.#lastLeader = st.leader;
    if (changed) for (const w of [...this.#leaderWaiters]) w();
  }

  /**
   * The leader this node knew is gone: proposals and reads waiting on it may never be answered.
   * Reads fail (`Unavailable`: nothing was read); proposals fail as of unknown outcome (they may
   * still commit under the next leader) with `Timeout`, a code that says so on the wire too
   * (a client takes `Unavailable` for a write refused before it was ordered).
   */
  #leaderLost(next: NodeId | null): void {
    const why = next === null ? "lost its leader" : `saw leadership move to ${next}`;
    for (const [n, w] of [...this.#reads]) {
      this.#reads.delete(n);
      w.reject(new ConcordError("Unavailable", `node ${this.id} ${why} before the read was confirmed; nothing was read: retry`, { outcome: "not-applied" }));
    }
    for (const [n, w] of [...this.#proposals]) {
      this.#proposals.delete(n);
      w.reject(new ConcordError("Timeout", `node ${this.id} ${why} before the write committed; it may still apply: retry it in its session, or read it back`, { outcome: "unknown" }));
    }
  }

  #rejectAll(e: ConcordError): void {
    for (const w of [...this.#leaderWaiters]) w();
    for (const w of this.#proposals.values()) w.reject(new ConcordError(e.code, `${e.message}; the write may or may not have applied`, { ...e.details, outcome: "unknown" }));
    this.#proposals.clear();
    for (const w of this.#reads.values()) w.reject(e);
    this.#reads.clear();
    this.#readsToApply = [];
  }

  #fail(e: unknown): void {
    if (this.#failure !== null || this.#closed) return;
    const error = isConcordError(e) ? e : new ConcordError("Io", `the raft log failed: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
    this.#failure = error;
    this.#loop.stop();
    this.#log("node.failed", { code: error.code, error: error.message });
    this.#rejectAll(error);
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.#o.log?.(event, { node: this.id, ...fields });
  }
}
