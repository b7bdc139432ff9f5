/**
 * The interaction environment behind golden traces (our counterpart of etcd-raft's `rafttest`
 * InteractionEnv): Raft cores, each with a {@link MemoryRaftStorage} and a toy state machine, and
 * a hand-driven network of per-recipient mailboxes. Nothing happens unless a command says so:
 * a Ready is handled only by `processReady`, a message arrives only by `deliver`, time passes
 * only by `tick`. Every method returns the lines it prints.
 *
 * Driver contract followed for every Ready (ready.ts): persist snapshot, entries, hard state;
 * THEN queue the messages; apply committed entries; advance.
 *
 * Network: a message is queued in its recipient's mailbox when the sender handles its Ready
 * (messages to a crashed or unknown server are lost then). Cuts (`partition`, `isolate`) apply at
 * delivery: a message crossing a cut is printed as `DROP ...` and lost.
 *
 * Determinism: one seeded Rng forks one generator per server, in creation order; servers are
 * visited in creation order; mailboxes are FIFO.
 */
import { seededRng, type Rng } from "../../../src/rng.js";
import type { RaftConfig } from "../../../src/strong/raft/config.js";
import type { RaftCore, RaftStatus, RequestResult } from "../../../src/strong/raft/core.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import type { Message } from "../../../src/strong/raft/messages.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import { asIndex, asNodeId, asTerm, type ConfChange, type ConfState, type NodeId } from "../../../src/strong/raft/types.js";
import { bytes, text, type ConfigOverrides } from "../raft/cluster.js";
import { describeConf, describeEntry, describeMessage, describeReady, describeStatus } from "./describe.js";

/** A server of the environment. */
interface EnvNode {
  readonly id: NodeId;
  core: RaftCore;
  readonly storage: MemoryRaftStorage;
  readonly rng: Rng;
  readonly config: ConfigOverrides;
  up: boolean;
  /** The toy state machine: applied normal payloads with their index (a snapshot's content gets its index). */
  applied: { index: number; data: string }[];
  appliedIndex: number;
}

/** How `addNodes` sets up new servers. */
export interface AddNodesOptions {
  /** Founding membership; when both are empty the servers start empty (to be added later). */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  /** Start from a snapshot at this index (term 1) holding the membership, instead of the bootstrap log. */
  readonly index: number | null;
  readonly config: ConfigOverrides;
}

/** What `deliver` lets through: only some message types; senders whose messages are dropped. */
export interface DeliverFilter {
  readonly types: readonly string[] | null;
  readonly dropFrom: readonly string[] | "all";
}

const DEFAULT_CONFIG: ConfigOverrides = { electionTicks: 3, heartbeatTicks: 1 };
const MAX_STABILIZE_ROUNDS = 1_000;

const indent = (lines: readonly string[]): string[] => lines.map((l) => `  ${l}`);

/** The text of a request's outcome: `ok`, or `refused <reason>: <detail>`. */
function describeResult(r: RequestResult): string {
  return r.ok ? "ok" : `refused ${r.reason}${r.detail === undefined ? "" : `: ${r.detail}`}`;
}

/** The hand-driven world of one trace file. */
export class InteractionEnv {
  private readonly nodes = new Map<NodeId, EnvNode>();
  private readonly mailboxes = new Map<NodeId, Message[]>();
  private cuts: ((from: NodeId, to: NodeId) => boolean)[] = [];
  private rng: Rng = seededRng(1);
  private logInfo = true;

  /** `info` prints a line whenever a server's role or term changes; `none` does not. */
  setLogLevel(level: string): string[] {
    if (level !== "info" && level !== "none") throw new Error(`log level must be "info" or "none", got "${level}"`);
    this.logInfo = level === "info";
    return ["ok"];
  }

  /** Reseeds the generator that new servers fork theirs from (call before `addNodes`). */
  seed(seed: number): void {
    this.rng = seededRng(seed);
  }

  /** Adds `count` servers, ids continuing from the last one (1, 2, 3...). */
  addNodes(count: number, options: AddNodesOptions): string[] {
    const conf: ConfState = { voters: options.voters.map(asNodeId), learners: options.learners.map(asNodeId) };
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = asNodeId(String(this.nodes.size + 1));
      const founding = conf.voters.length + conf.learners.length > 0;
      const storage = founding ? this.foundingStorage(conf, options.index) : new MemoryRaftStorage();
      const config = { ...DEFAULT_CONFIG, ...options.config };
      const rng = this.rng.fork();
      const appliedIndex = storage.firstIndex() - 1;
      const node: EnvNode = { id, storage, rng, config, up: true, applied: [], appliedIndex, core: this.createCore(id, storage, rng, config, appliedIndex) };
      this.nodes.set(id, node);
      this.mailboxes.set(id, []);
      const st = node.core.status();
      const last = storage.lastIndex();
      out.push(`${id}: term=${st.term} commit=${st.commit} last=${storage.term(last)}/${last} ${describeConf(st.conf)}`);
    }
    return out;
  }

  private foundingStorage(conf: ConfState, index: number | null): MemoryRaftStorage {
    if (index === null) return MemoryRaftStorage.bootstrap(conf);
    const storage = new MemoryRaftStorage();
    storage.applySnapshot({ meta: { index: asIndex(index), term: asTerm(1), conf }, data: bytes("[]") });
    storage.setHardState({ term: asTerm(1), vote: null, commit: asIndex(index) });
    return storage;
  }

  private createCore(id: NodeId, storage: MemoryRaftStorage, rng: Rng, config: ConfigOverrides, applied: number): RaftCore {
    return createRaft({ ...config, id, storage, rng, applied: asIndex(applied) } as RaftConfig);
  }

  private node(id: string): EnvNode {
    const n = this.nodes.get(asNodeId(id));
    if (n === undefined) throw new Error(`no server ${id} (servers: ${[...this.nodes.keys()].join(", ") || "none"})`);
    return n;
  }

  private upNode(id: string): EnvNode {
    const n = this.node(id);
    if (!n.up) throw new Error(`server ${id} is crashed: restart it first`);
    return n;
  }

  /** Ids in creation order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  /**
   * Runs `input` on `n` and, at log level info, reports a change of role or term, e.g.
   * `INFO 2 became candidate at term 3`.
   */
  private observe(n: EnvNode, input: () => void): string[] {
    const before = n.core.status();
    input();
    const after = n.core.status();
    if (!this.logInfo || (before.role === after.role && before.term === after.term)) return [];
    return [`INFO ${n.id} became ${after.role} at term ${after.term}`];
  }

  private request(id: string, call: (core: RaftCore) => RequestResult): string[] {
    const n = this.upNode(id);
    let result: RequestResult = { ok: true };
    const info = this.observe(n, () => {
      result = call(n.core);
    });
    return [describeResult(result), ...info];
  }

  /** `core.campaign()`: starts an election now (pre-vote first when enabled). */
  campaign(id: string): string[] {
    const n = this.upNode(id);
    return ["ok", ...this.observe(n, () => n.core.campaign())];
  }

  /** Proposes a normal entry with payload `data`. */
  propose(id: string, data: string): string[] {
    return this.request(id, (core) => core.propose(bytes(data)));
  }

  /** Proposes one membership change. */
  proposeConfChange(id: string, change: ConfChange): string[] {
    return this.request(id, (core) => core.proposeMembershipChange(change));
  }

  /** Asks for a linearizable read point with context `ctx`. */
  readIndex(id: string, ctx: string): string[] {
    return this.request(id, (core) => core.readIndex(bytes(ctx)));
  }

  /** Asks `id` to hand leadership to `to`. */
  transferLeadership(id: string, to: string): string[] {
    return this.request(id, (core) => core.transferLeadership(asNodeId(to)));
  }

  /** Ticks `id` `count` times. */
  tick(id: string, count: number): string[] {
    const n = this.upNode(id);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(...this.observe(n, () => n.core.tick()));
    return ["ok", ...out];
  }

  /** Ticks `id` for one heartbeat interval (`heartbeatTicks`). */
  tickHeartbeat(id: string): string[] {
    return this.tick(id, this.upNode(id).config.heartbeatTicks ?? 1);
  }

  /**
   * Ticks `id` until its election timer fires: a leader exactly `electionTicks` times (one
   * check-quorum period, thesis 6.2); anyone else until it starts a (pre-)campaign, at most
   * 2 * `electionTicks` times (the randomized timeout is below that, paper 5.2).
   */
  tickElection(id: string): string[] {
    const n = this.upNode(id);
    const election = n.config.electionTicks ?? 10;
    if (n.core.status().role === "leader") return this.tick(id, election);
    const out: string[] = [];
    for (let i = 0; i < 2 * election; i++) {
      const before = n.core.status();
      const hadReady = n.core.hasReady();
      out.push(...this.observe(n, () => n.core.tick()));
      if (campaignStarted(before, n.core.status()) || (!hadReady && n.core.hasReady())) break;
    }
    return ["ok", ...out];
  }

  /** Handles one Ready of `id` like a driver; prints it, or `<empty Ready>`. */
  processReady(id: string): string[] {
    const n = this.upNode(id);
    if (!n.core.hasReady()) return ["<empty Ready>"];
    const rd = n.core.ready();
    const out = describeReady(rd);
    if (rd.snapshot !== null) {
      n.storage.applySnapshot(rd.snapshot);
      const data = JSON.parse(text(rd.snapshot.data)) as string[];
      const at = rd.snapshot.meta.index;
      n.applied = data.map((d) => ({ index: at, data: d }));
      n.appliedIndex = at;
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      const to = this.nodes.get(m.to);
      if (to !== undefined && to.up) this.mailboxes.get(m.to)?.push(m);
    }
    for (const e of rd.committed) {
      if (e.index !== n.appliedIndex + 1) throw new Error(`${id} was handed entry ${e.index} to apply after ${n.appliedIndex}`);
      if (e.kind === "normal") n.applied.push({ index: e.index, data: text(e.data) });
      n.appliedIndex = e.index;
    }
    out.push(...this.observe(n, () => n.core.advance(rd)));
    return out;
  }

  /** Delivers the messages queued for `id` that pass `filter` (others stay queued), printing each. */
  deliver(id: string, filter: DeliverFilter = { types: null, dropFrom: [] }): string[] {
    const n = this.upNode(id);
    const box = this.mailboxes.get(n.id) ?? [];
    const selected = box.filter((m) => filter.types === null || filter.types.includes(m.type));
    this.mailboxes.set(
      n.id,
      box.filter((m) => !selected.includes(m)),
    );
    const out: string[] = [];
    for (const m of selected) {
      const dropped = filter.dropFrom === "all" || filter.dropFrom.includes(m.from) || this.cuts.some((cut) => cut(m.from, m.to));
      if (dropped) {
        out.push(`DROP ${describeMessage(m)}`);
        continue;
      }
      out.push(describeMessage(m));
      out.push(...this.observe(n, () => n.core.step(m)));
    }
    return out;
  }

  /** Messages waiting in `id`'s mailbox. */
  pending(id: string): number {
    return this.mailboxes.get(this.node(id).id)?.length ?? 0;
  }

  /**
   * Handles Readies and delivers messages among `ids` (default: every server that is up) until
   * none has anything left to do. Each round handles every Ready, then delivers every mailbox.
   */
  stabilize(ids?: readonly string[]): string[] {
    const scope = (ids === undefined || ids.length === 0 ? this.ids() : ids.map((id) => this.node(id).id)).filter(
      (id) => this.node(id).up,
    );
    const out: string[] = [];
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      let busy = false;
      for (const id of scope) {
        if (!this.node(id).core.hasReady()) continue;
        busy = true;
        out.push(`> ${id} handling Ready`, ...indent(this.processReady(id)));
      }
      for (const id of scope) {
        if (this.pending(id) === 0) continue;
        busy = true;
        out.push(`> ${id} receiving messages`, ...indent(this.deliver(id)));
      }
      if (!busy) return out.length === 0 ? ["ok"] : out;
    }
    throw new Error(`stabilize: still busy after ${MAX_STABILIZE_ROUNDS} rounds`);
  }

  /** Cuts every link between different groups (servers in no group keep talking to everyone). */
  partition(groups: readonly (readonly string[])[]): string[] {
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) =>
      g.forEach((id) => {
        this.node(id);
        groupOf.set(id, i);
      }),
    );
    this.cuts.push((from, to) => {
      const a = groupOf.get(from);
      const b = groupOf.get(to);
      return a !== undefined && b !== undefined && a !== b;
    });
    return ["ok"];
  }

  /** Cuts `id` off from everyone. */
  isolate(id: string): string[] {
    const target = this.node(id).id;
    this.cuts.push((from, to) => from === target || to === target);
    return ["ok"];
  }

  /** Removes every cut. */
  heal(): string[] {
    this.cuts = [];
    return ["ok"];
  }

  /** Stops `id`: what it had not handed out in a Ready is lost, its mailbox too; storage and state machine survive. */
  crash(id: string): string[] {
    const n = this.upNode(id);
    n.up = false;
    this.mailboxes.set(n.id, []);
    return ["ok"];
  }

  /** Restarts `id` from its storage, with `applied` = its state machine's applied index. */
  restart(id: string): string[] {
    const n = this.node(id);
    if (n.up) throw new Error(`server ${id} is up: crash it first`);
    n.core = this.createCore(n.id, n.storage, n.rng, n.config, n.appliedIndex);
    n.up = true;
    const st = n.core.status();
    return [`${id}: term=${st.term} commit=${st.commit} applied=${st.applied} last=${st.lastIndex} ${describeConf(st.conf)}`];
  }

  /** The core's status: role, term, leader, commit, applied; progress on a leader. */
  status(id: string): string[] {
    return describeStatus(this.upNode(id).core.status());
  }

  /** The durable log of `id` (its storage): the snapshot it starts from, then every entry. */
  raftLog(id: string): string[] {
    const s = this.node(id).storage;
    const out: string[] = [];
    const snap = s.snapshot().meta;
    if (snap.index > 0) out.push(`snapshot ${snap.term}/${snap.index} ${describeConf(snap.conf)}`);
    const first = s.firstIndex();
    if (first - 1 > snap.index) out.push(`compacted through ${first - 1}`);
    const got = s.entries(first, asIndex(s.lastIndex() + 1), Number.POSITIVE_INFINITY);
    if (typeof got === "string") throw new Error(`storage of ${id} cannot read its own log: ${got}`);
    out.push(...got.map(describeEntry));
    const h = s.hardState();
    out.push(`hard term=${h.term} vote=${h.vote ?? "none"} commit=${h.commit}`);
    return out;
  }

  /**
   * Snapshots `id`'s state machine as of `index` (which it has applied) and compacts its storage
   * up to it; prints the durable log afterwards.
   */
  compact(id: string, index: number): string[] {
    const n = this.node(id);
    if (index > n.appliedIndex) throw new Error(`compact ${id} ${index}: it has applied only up to ${n.appliedIndex}`);
    const at = asIndex(index);
    const data = n.applied.filter((a) => a.index <= index).map((a) => a.data);
    n.storage.createSnapshot(at, n.storage.confStateAt(at), bytes(JSON.stringify(data)));
    n.storage.compact(at);
    return this.raftLog(id);
  }

  /** The applied payloads of `id`'s state machine. */
  appliedData(id: string): string[] {
    return this.node(id).applied.map((a) => a.data);
  }
}

/** True when the server went from waiting to campaigning (or its term moved) during a tick. */
function campaignStarted(before: RaftStatus, after: RaftStatus): boolean {
  return after.term !== before.term || (after.role !== before.role && after.role !== "follower");
}
