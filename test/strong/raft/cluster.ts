/**
 * A small in-memory Raft cluster for tests (reused by golden traces and the simulation): N cores,
 * each with a {@link MemoryRaftStorage} and a toy state machine, and a synchronous "network" that
 * delivers messages in FIFO rounds through drop filters.
 *
 * Driver contract followed for every Ready (ready.ts): persist snapshot, entries, hard state;
 * THEN queue the messages; apply committed entries; record read states; advance.
 *
 * Nothing here sleeps: time is `tick`, delivery is `deliverRound`/`stabilize`.
 *
 * ```ts
 * const c = new TestCluster({ voters: ["a", "b", "c"], seed: 1 });
 * c.elect("a");
 * c.propose("a", "x"); c.stabilize();
 * expect(c.appliedData("b")).toEqual(["x"]);
 * ```
 */
import { expect } from "vitest";
import { seededRng, type Rng } from "../../../src/rng.js";
import type { RaftConfig } from "../../../src/strong/raft/config.js";
import type { RaftCore } from "../../../src/strong/raft/core.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import type { Message } from "../../../src/strong/raft/messages.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import type { Ready } from "../../../src/strong/raft/ready.js";
import { asIndex, asNodeId, type Entry, type LogIndex, type NodeId, type ReadState, type Term } from "../../../src/strong/raft/types.js";

/** Config fields a test may override (id, storage and rng are the cluster's). */
export type ConfigOverrides = Partial<Omit<RaftConfig, "id" | "storage" | "rng">>;

export interface ClusterOptions {
  /** Founding voters (bootstrapped with the same membership). */
  readonly voters: readonly string[];
  /** Founding learners. */
  readonly learners?: readonly string[];
  /** Seed of every node's election jitter (each node gets its own fork). Default 1. */
  readonly seed?: number;
  /** Overrides for every node; default electionTicks 10, heartbeatTicks 1. */
  readonly config?: ConfigOverrides;
  /** Keep every Ready handed out, per node, in `readies` (for determinism checks). */
  readonly recordReadies?: boolean;
}

/** A toy state machine: the applied normal entries' payloads as strings, and its applied index. */
export interface StateMachine {
  appliedIndex: LogIndex;
  data: string[];
}

/** One server of the cluster. */
export interface TestNode {
  readonly id: NodeId;
  core: RaftCore;
  readonly storage: MemoryRaftStorage;
  readonly rng: Rng;
  overrides: ConfigOverrides;
  /** Survives crashes (models a durable state machine) unless restarted with `freshStateMachine`. */
  sm: StateMachine;
  /** Every committed entry handed out, in order (across restarts; not reset by a snapshot). */
  committed: Entry[];
  readStates: ReadState[];
  readies: Ready[];
  /** A Ready taken but not yet persisted (see `beginReady`). */
  pending: Ready | null;
  up: boolean;
}

/** A predicate over messages; true means "drop it". */
export type DropFilter = (m: Message) => boolean;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** UTF-8 bytes of `s`. */
export const bytes = (s: string): Uint8Array => encoder.encode(s);
/** The string a payload encodes. */
export const text = (b: Uint8Array): string => decoder.decode(b);

const DEFAULTS: ConfigOverrides = { electionTicks: 10, heartbeatTicks: 1 };

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message sent (before filters), for assertions. Clear it freely. */
  sent: Message[] = [];
  /** Every message dropped by a filter or because its target was down. */
  dropped: Message[] = [];
  /** Leaders observed per term (election safety: at most one each). */
  readonly leadersByTerm = new Map<Term, Set<NodeId>>();
  private filters: DropFilter[] = [];
  private readonly rng: Rng;
  private readonly recordReadies: boolean;
  private readonly config: ConfigOverrides;

  constructor(options: ClusterOptions) {
    this.rng = seededRng(options.seed ?? 1);
    this.recordReadies = options.recordReadies ?? false;
    this.config = { ...DEFAULTS, ...options.config };
    const voters = options.voters.map(asNodeId);
    const learners = (options.learners ?? []).map(asNodeId);
    for (const id of [...voters, ...learners]) {
      this.addServer(id, MemoryRaftStorage.bootstrap({ voters, learners }));
    }
  }

  /** Adds a server that is not (yet) a member: empty storage, no membership. */
  addNode(id: string, overrides: ConfigOverrides = {}): TestNode {
    return this.addServer(asNodeId(id), new MemoryRaftStorage(), overrides);
  }

  private addServer(id: NodeId, storage: MemoryRaftStorage, overrides: ConfigOverrides = {}): TestNode {
    const rng = this.rng.fork();
    const node: TestNode = {
      id,
      storage,
      rng,
      overrides,
      core: createRaft({ ...this.config, ...overrides, id, storage, rng } as RaftConfig),
      sm: { appliedIndex: asIndex(0), data: [] },
      committed: [],
      readStates: [],
      readies: [],
      pending: null,
      up: true,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** The server `id` (throws if unknown). */
  node(id: string): TestNode {
    const n = this.nodes.get(asNodeId(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** The core of `id`. */
  core(id: string): RaftCore {
    return this.node(id).core;
  }

  /** Ids in sorted order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()].sort();
  }

  /** Drops every message for which `filter` is true until the returned function is called. */
  dropIf(filter: DropFilter): () => void {
    this.filters.push(filter);
    return () => {
      this.filters = this.filters.filter((f) => f !== filter);
    };
  }

  /** Cuts every link between different groups (servers in no group talk to everyone). */
  partition(...groups: readonly (readonly string[])[]): () => void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    return this.dropIf((m) => {
      const a = groupOf.get(m.from);
      const b = groupOf.get(m.to);
      return a !== undefined && b !== undefined && a !== b;
    });
  }

  /** Cuts `id` off from everyone. */
  isolate(id: string): () => void {
    return this.dropIf((m) => m.from === id || m.to === id);
  }

  /** Removes every filter. */
  heal(): void {
    this.filters = [];
  }

  /** Processes one Ready of `id` if it has one, as a driver must. Returns it, or null. */
  processReady(id: string): Ready | null {
    const rd = this.beginReady(id);
    if (rd !== null) this.finishReady(id);
    return rd;
  }

  /**
   * Takes a Ready from `id` without acting on it yet, as an asynchronous driver does while it
   * persists: the core keeps taking inputs meanwhile. {@link finishReady} completes it; a crash
   * before that loses it (nothing persisted, nothing sent). Returns it, or null when none/already pending.
   */
  beginReady(id: string): Ready | null {
    const n = this.node(id);
    if (!n.up || n.pending !== null || !n.core.hasReady()) return null;
    const rd = n.core.ready();
    if (this.recordReadies) n.readies.push(rd);
    n.pending = rd;
    return rd;
  }

  /** Completes the Ready taken by {@link beginReady}: persist, send, apply, advance. */
  finishReady(id: string): void {
    const n = this.node(id);
    const rd = n.pending;
    if (!n.up || rd === null) return;
    n.pending = null;
    if (rd.snapshot !== null) {
      n.storage.applySnapshot(rd.snapshot);
      n.sm = { appliedIndex: rd.snapshot.meta.index, data: JSON.parse(text(rd.snapshot.data)) as string[] };
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    for (const e of rd.committed) {
      if (e.index !== n.sm.appliedIndex + 1) expect.fail(`${id} applies ${e.index} after ${n.sm.appliedIndex}`);
      n.committed.push(e);
      if (e.kind === "normal") n.sm.data.push(text(e.data));
      n.sm.appliedIndex = e.index;
    }
    n.readStates.push(...rd.readStates);
    n.core.advance(rd);
    this.observe(n);
  }

  private observe(n: TestNode): void {
    const st = n.core.status();
    if (st.role !== "leader") return;
    const set = this.leadersByTerm.get(st.term) ?? new Set<NodeId>();
    set.add(n.id);
    this.leadersByTerm.set(st.term, set);
  }

  /** Completes pending Readies, then processes Readies of every up server until none has one. */
  flushReadies(): void {
    for (const id of this.ids()) this.finishReady(id);
    for (let again = true; again; ) {
      again = false;
      for (const id of this.ids()) {
        if (this.processReady(id) !== null) again = true;
      }
    }
  }

  /** Flushes Readies, then delivers every queued message once (through the filters). Returns how many were queued. */
  deliverRound(): number {
    this.flushReadies();
    const msgs = this.queue;
    this.queue = [];
    for (const m of msgs) this.deliver(m);
    this.flushReadies();
    return msgs.length;
  }

  /** Delivers one message now (through the filters), without processing Readies. */
  deliver(m: Message): void {
    const target = this.nodes.get(m.to);
    if (target === undefined || !target.up || this.filters.some((f) => f(m))) {
      this.dropped.push(m);
      return;
    }
    target.core.step(m);
    this.observe(target);
  }

  /** Runs rounds until no Ready and no message is pending. */
  stabilize(maxRounds = 10_000): void {
    for (let i = 0; i < maxRounds; i++) {
      if (this.deliverRound() === 0 && this.queue.length === 0) return;
    }
    throw new Error(`cluster did not stabilize in ${maxRounds} rounds`);
  }

  /** Ticks `id` `n` times, stabilizing after each tick. */
  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      const node = this.node(id);
      if (node.up) node.core.tick();
      this.stabilize();
    }
  }

  /** Ticks every up server `n` times (in id order), stabilizing after each round of ticks. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.ids()) {
        const node = this.node(id);
        if (node.up) node.core.tick();
      }
      this.stabilize();
    }
  }

  /** Ticks everyone until `done()` holds; throws after `maxTicks`. Returns the ticks used. */
  tickUntil(done: () => boolean, maxTicks = 1_000): number {
    for (let i = 0; i < maxTicks; i++) {
      if (done()) return i;
      this.tickAll();
    }
    if (done()) return maxTicks;
    throw new Error(`condition not reached in ${maxTicks} ticks`);
  }

  /** Makes `id` campaign and stabilizes; asserts it won. */
  elect(id: string): void {
    this.core(id).campaign();
    this.stabilize();
    expect(this.core(id).status().role, `${id} should have won the election`).toBe("leader");
  }

  /** The up server that leads in the highest term, or null. */
  leader(): NodeId | null {
    let best: { id: NodeId; term: number } | null = null;
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      const st = n.core.status();
      if (st.role === "leader" && (best === null || st.term > best.term)) best = { id: n.id, term: st.term };
    }
    return best?.id ?? null;
  }

  /** Proposes `data` on `id` and asserts it was accepted (not that it commits). */
  propose(id: string, data: string): void {
    const r = this.core(id).propose(bytes(data));
    expect(r, `proposal on ${id}`).toEqual({ ok: true });
  }

  /** The state machine of `id`: applied payloads in order. */
  appliedData(id: string): string[] {
    return this.node(id).sm.data;
  }

  /** Takes a snapshot of `id`'s state machine at its applied index and compacts its log up to `compactTo` (default: that index). */
  snapshotAndCompact(id: string, compactTo?: number): void {
    const n = this.node(id);
    const index = n.sm.appliedIndex;
    n.storage.createSnapshot(index, n.storage.confStateAt(index), bytes(JSON.stringify(n.sm.data)));
    n.storage.compact(asIndex(compactTo ?? index));
  }

  /** Stops `id`: no ticks, messages to it are dropped; its storage is kept. */
  crash(id: string): void {
    const n = this.node(id);
    n.up = false;
    n.pending = null;
  }

  /**
   * Restarts `id` from its storage. By default the state machine survived (config.applied = its
   * applied index); with `freshStateMachine` it restarts from the storage's snapshot.
   */
  restart(id: string, options: { freshStateMachine?: boolean; overrides?: ConfigOverrides } = {}): void {
    const n = this.node(id);
    if (options.freshStateMachine === true) {
      const snap = n.storage.snapshot();
      n.sm =
        snap.meta.index > 0
          ? { appliedIndex: snap.meta.index, data: JSON.parse(text(snap.data)) as string[] }
          : { appliedIndex: asIndex(0), data: [] };
    }
    if (options.overrides !== undefined) n.overrides = options.overrides;
    n.core = createRaft({ ...this.config, ...n.overrides, id: n.id, storage: n.storage, rng: n.rng, applied: n.sm.appliedIndex } as RaftConfig);
    n.up = true;
  }

  /**
   * Safety checks over everything observed so far: at most one leader per term (paper 5.2), and
   * state machine safety (paper 5.4.3: no two servers applied different entries at one index).
   */
  assertSafety(): void {
    for (const [term, leaders] of this.leadersByTerm) {
      if (leaders.size > 1) expect.fail(`two leaders in term ${term}: ${[...leaders].join(", ")}`);
    }
    const byIndex = new Map<number, { id: NodeId; e: Entry }>();
    for (const n of this.nodes.values()) {
      for (const e of n.committed) {
        const seen = byIndex.get(e.index);
        if (seen === undefined) byIndex.set(e.index, { id: n.id, e });
        else if (describeEntry(e) !== describeEntry(seen.e)) {
          expect(describeEntry(e), `entry ${e.index} on ${n.id} vs ${seen.id}`).toBe(describeEntry(seen.e));
        }
      }
    }
  }
}

const descriptions = new WeakMap<Entry, string>();

/** A comparable description of an entry (memoized: entries are immutable). */
export function describeEntry(e: Entry): string {
  let d = descriptions.get(e);
  if (d === undefined) {
    d = describeUncached(e);
    descriptions.set(e, d);
  }
  return d;
}

function describeUncached(e: Entry): string {
  switch (e.kind) {
    case "normal":
      return `${e.index}@${e.term} normal ${text(e.data)}`;
    case "noop":
      return `${e.index}@${e.term} noop`;
    case "conf-change":
      return `${e.index}@${e.term} ${e.change.type} ${e.change.node}`;
  }
}
