/**
 * A small in-memory world for the replication cores: one primary (or, after a failover, several
 * primary cores of different epochs) and N replicas, each with an in-memory log, and a message
 * queue a test delivers, drops, duplicates and reorders by hand.
 *
 * Driver contract followed for every output: the primary appends `persist` to its log and (unless
 * `manualDisk`) reports it `persisted` at once; a replica installs `install`, stores `history`,
 * appends `persist` (checking each record continues its log), then reports `installed`,
 * `persisted` and `applied`. Messages go into `queue`; nothing is delivered until the test says so.
 * The state of a log is the list of its records' payloads (strings); a snapshot is that list as JSON.
 *
 * ```ts
 * const w = new World({ replicas: ["r1", "r2"] });
 * w.connectAll();             // a hello from each replica, answered
 * w.write("x");  w.settle();  // deliver everything, FIFO, no faults
 * expect(w.replica("r1").state()).toEqual(["x"]);
 * ```
 */
import { asPeerId, type PeerId } from "../../../src/ids.js";
import type { PrimaryConfig, PrimaryCore, PrimaryLog, ReplicaConfig, ReplicaCore, SnapshotInstall, WriteAbandoned, WriteDone, WriteResult } from "../../../src/primary/replication/core.js";
import type { PrimaryToReplica, ReplMessage, ToPrimary } from "../../../src/primary/replication/messages.js";
import { createPrimary } from "../../../src/primary/replication/primary-core.js";
import { createReplica } from "../../../src/primary/replication/replica-core.js";
import { asEpoch, asLsn, type PrimaryDurability, type EpochHistory, type Lsn, type ReplRecord } from "../../../src/primary/replication/types.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (s: string): Uint8Array => encoder.encode(s);
export const text = (b: Uint8Array): string => decoder.decode(b);
export const encodeState = (state: readonly string[]): Uint8Array => bytes(JSON.stringify(state));
export const decodeState = (data: Uint8Array): string[] => JSON.parse(text(data)) as string[];

/** A history with one epoch per entry: `hist([1, "p", 1], [2, "r1", 5])`. */
export function hist(...entries: readonly (readonly [number, string, number])[]): EpochHistory {
  return entries.map(([epoch, primary, startLsn]) => ({ epoch: asEpoch(epoch), primary: asPeerId(primary), startLsn: asLsn(startLsn) }));
}

/** A record of `epoch` at `lsn` whose payload is `data` (default `e<epoch>:<lsn>`). */
export const rec = (epoch: number, lsn: number, data = `e${epoch}:${lsn}`): ReplRecord => ({ epoch: asEpoch(epoch), lsn: asLsn(lsn), data: bytes(data) });

/** A log: the state compacted up to `baseLsn`, then the records after it. */
export class MemoryLog implements PrimaryLog {
  constructor(
    public baseLsn: Lsn = asLsn(0),
    public baseState: string[] = [],
    public entries: ReplRecord[] = [],
  ) {}

  firstLsn(): Lsn {
    return asLsn(this.baseLsn + 1);
  }
  lastLsn(): Lsn {
    return asLsn(this.baseLsn + this.entries.length);
  }
  records(from: Lsn, to: Lsn, maxBytes: number): readonly ReplRecord[] {
    if (from < this.firstLsn() || to > this.lastLsn() || from > to) throw new Error(`records(${from}, ${to}) outside [${this.firstLsn()}, ${this.lastLsn()}]`);
    const out: ReplRecord[] = [];
    let size = 0;
    for (let lsn = from; lsn <= to; lsn++) {
      const r = this.entries[lsn - this.baseLsn - 1]!;
      if (out.length > 0 && size + r.data.length > maxBytes) break;
      out.push(r);
      size += r.data.length;
    }
    return out;
  }
  snapshot(): { readonly lsn: Lsn; readonly data: Uint8Array } {
    return { lsn: this.lastLsn(), data: encodeState(this.state()) };
  }
  /** Appends records that MUST continue the log. */
  append(records: readonly ReplRecord[]): void {
    for (const r of records) {
      if (r.lsn !== this.lastLsn() + 1) throw new Error(`record ${r.lsn} does not continue the log at ${this.lastLsn()}`);
      this.entries.push(r);
    }
  }
  /** Folds records up to `lsn` into the base state (they leave the backlog). */
  compact(lsn: number): void {
    const n = Math.min(lsn, this.lastLsn()) - this.baseLsn;
    if (n <= 0) return;
    this.baseState = [...this.baseState, ...this.entries.slice(0, n).map((r) => text(r.data))];
    this.entries = this.entries.slice(n);
    this.baseLsn = asLsn(this.baseLsn + n);
  }
  /** The payloads of every record, compacted or not. */
  state(): string[] {
    return [...this.baseState, ...this.entries.map((r) => text(r.data))];
  }
  /** The epoch of each record still in the backlog. */
  epochs(): number[] {
    return this.entries.map((r) => r.epoch);
  }
  clone(): MemoryLog {
    return new MemoryLog(this.baseLsn, [...this.baseState], [...this.entries]);
  }
}

export interface PrimaryNode {
  readonly kind: "primary";
  readonly id: PeerId;
  readonly core: PrimaryCore;
  readonly log: MemoryLog;
  /** Records handed out and not yet appended (manualDisk). */
  unpersisted: ReplRecord[];
  readonly done: WriteDone[];
  readonly abandoned: WriteAbandoned[];
}

export interface ReplicaNode {
  readonly kind: "replica";
  readonly id: PeerId;
  readonly core: ReplicaCore;
  readonly log: MemoryLog;
  history: EpochHistory;
  readonly installs: SnapshotInstall[];
  /** Records handed out and not yet appended (manualDisk). */
  unpersisted: ReplRecord[];
}

export type Node = PrimaryNode | ReplicaNode;

export interface Envelope {
  readonly from: PeerId;
  readonly to: PeerId;
  readonly msg: ReplMessage;
}

export type PrimaryOverrides = Partial<Omit<PrimaryConfig, "id" | "log">>;
export type ReplicaOverrides = Partial<Omit<ReplicaConfig, "id">>;

export interface WorldOptions {
  readonly primary?: string;
  /** The primary's log (default empty); give `primaryConfig.epoch`/`history` to match it. */
  readonly primaryLog?: MemoryLog;
  readonly replicas?: readonly string[];
  readonly primaryConfig?: PrimaryOverrides;
  readonly replicaConfig?: ReplicaOverrides;
  /** Disks report `persisted` only when the test calls `flushDisk`. */
  readonly manualDisk?: boolean;
}

export class World {
  now = 0;
  queue: Envelope[] = [];
  readonly nodes = new Map<PeerId, Node>();
  /** Every message delivered, in order (for assertions on traffic). */
  readonly delivered: Envelope[] = [];
  private readonly manualDisk: boolean;

  constructor(readonly options: WorldOptions = {}) {
    this.manualDisk = options.manualDisk ?? false;
    const p = options.primary ?? "p";
    this.addPrimary(p, options.primaryLog ?? new MemoryLog(), { epoch: asEpoch(1), history: hist([1, p, 1]), ...options.primaryConfig });
    for (const r of options.replicas ?? []) this.addReplica(r, p, new MemoryLog(), hist([1, p, 1]), options.replicaConfig);
  }

  addPrimary(id: string, log: MemoryLog, config: PrimaryOverrides & Pick<PrimaryConfig, "epoch" | "history">): PrimaryNode {
    const peer = asPeerId(id);
    const node: PrimaryNode = { kind: "primary", id: peer, core: createPrimary({ ...config, id: peer, log }), log, unpersisted: [], done: [], abandoned: [] };
    this.nodes.set(peer, node);
    this.drain(node);
    return node;
  }

  addReplica(id: string, primary: string, log: MemoryLog, history: EpochHistory, overrides: ReplicaOverrides = {}): ReplicaNode {
    const peer = asPeerId(id);
    const epoch = history[history.length - 1]!.epoch;
    const core = createReplica({ id: peer, primary: asPeerId(primary), history, epoch, lastLsn: log.lastLsn(), appliedLsn: log.lastLsn(), ...overrides });
    const node: ReplicaNode = { kind: "replica", id: peer, core, log, history, installs: [], unpersisted: [] };
    this.nodes.set(peer, node);
    return node;
  }

  primary(id = this.options.primary ?? "p"): PrimaryNode {
    const n = this.nodes.get(asPeerId(id));
    if (n?.kind !== "primary") throw new Error(`${id} is not a primary`);
    return n;
  }

  replica(id: string): ReplicaNode {
    const n = this.nodes.get(asPeerId(id));
    if (n?.kind !== "replica") throw new Error(`${id} is not a replica`);
    return n;
  }

  replicas(): ReplicaNode[] {
    return [...this.nodes.values()].filter((n): n is ReplicaNode => n.kind === "replica");
  }

  write(data: string, durability: PrimaryDurability = "local", primary?: string): WriteResult {
    const node = this.primary(primary);
    const result = node.core.write(bytes(data), durability, this.now);
    this.drain(node);
    return result;
  }

  /** Advances the clock by `ms` and ticks every core. */
  tick(ms: number): void {
    this.now += ms;
    for (const n of this.nodes.values()) {
      n.core.tick(this.now);
      this.drain(n);
    }
  }

  /** `peerUp` everywhere: each replica says hello to its primary, primaries tell their followers. */
  connectAll(): void {
    for (const n of this.nodes.values()) {
      for (const other of this.nodes.keys()) if (other !== n.id) n.core.peerUp(other, this.now);
      this.drain(n);
    }
  }

  /** Delivers the message at `index` of the queue (default: the oldest). */
  deliverAt(index = 0): Envelope {
    const [env] = this.queue.splice(index, 1);
    if (env === undefined) throw new Error(`no message at ${index}`);
    this.deliverEnvelope(env);
    return env;
  }

  deliverEnvelope(env: Envelope): void {
    const node = this.nodes.get(env.to);
    if (node === undefined) return;
    this.delivered.push(env);
    if (node.kind === "primary") node.core.step(env.from, env.msg as ToPrimary, this.now);
    else node.core.step(env.from, env.msg as PrimaryToReplica, this.now);
    this.drain(node);
  }

  /** Removes and returns the queued messages matching `pred`. */
  take(pred: (e: Envelope) => boolean): Envelope[] {
    const taken = this.queue.filter(pred);
    this.queue = this.queue.filter((e) => !pred(e));
    return taken;
  }

  /** Delivers FIFO until the queue is empty; `drop` loses matching messages. Returns how many were delivered. */
  settle(drop: (e: Envelope) => boolean = () => false, maxMessages = 100_000): number {
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > maxMessages) throw new Error(`no quiescence after ${maxMessages} messages`);
      const env = this.queue.shift()!;
      if (!drop(env)) this.deliverEnvelope(env);
    }
    return n;
  }

  /** Ticks by `ms`, then delivers and (manualDisk) flushes until quiet, `rounds` times. */
  run(rounds: number, ms = 100): void {
    for (let i = 0; i < rounds; i++) {
      this.tick(ms);
      this.settle();
      for (let n = 0; this.manualDisk && [...this.nodes.values()].some((node) => node.unpersisted.length > 0); n++) {
        if (n > 10_000) throw new Error("disks never caught up");
        this.flushAll();
        this.settle();
      }
    }
  }

  /** manualDisk: makes everything handed out durable and reports it. */
  flushDisk(id: string): void {
    const node = this.nodes.get(asPeerId(id))!;
    const records = node.unpersisted;
    node.unpersisted = [];
    node.log.append(records);
    if (records.length === 0) return;
    const last = node.log.lastLsn();
    if (node.kind === "primary") node.core.persisted(last, this.now);
    else {
      node.core.persisted(last, this.now);
      node.core.applied(last, this.now);
    }
    this.drain(node);
  }

  /** manualDisk: flushes every node's disk. */
  flushAll(): void {
    for (const id of this.nodes.keys()) this.flushDisk(id);
  }

  /** Promotes replica `id`: it becomes a primary core of the next epoch, telling `followers`. */
  promote(id: string, followers: readonly string[], overrides: PrimaryOverrides = {}): PrimaryNode {
    const r = this.replica(id);
    const p = r.core.promotion();
    if (p.lastLsn !== r.log.lastLsn()) throw new Error(`promotion at ${p.lastLsn} but the log ends at ${r.log.lastLsn()}`);
    return this.addPrimary(id, r.log, { ...this.options.primaryConfig, ...overrides, epoch: p.epoch, history: p.history, followers: followers.map(asPeerId) });
  }

  /** Restarts a (fenced) primary as a replica of `primary`, from its own log and history. */
  demote(id: string, primary: string, overrides: ReplicaOverrides = {}): ReplicaNode {
    const old = this.primary(id);
    const status = old.core.status(this.now);
    return this.addReplica(id, primary, old.log, status.history, { ...this.options.replicaConfig, ...overrides });
  }

  /** Carries out every output of `node` until it has nothing more to do. */
  drain(node: Node): void {
    for (;;) {
      if (node.kind === "primary") {
        const out = node.core.output();
        if (out.persist.length + out.send.length + out.done.length + out.abandoned.length === 0) return;
        node.done.push(...out.done);
        node.abandoned.push(...out.abandoned);
        node.unpersisted.push(...out.persist);
        for (const s of out.send) this.queue.push({ from: node.id, to: s.to, msg: s.msg });
        if (!this.manualDisk && node.unpersisted.length > 0) {
          node.log.append(node.unpersisted);
          node.unpersisted = [];
          node.core.persisted(node.log.lastLsn(), this.now);
        }
      } else {
        const out = node.core.output();
        if (out.persist.length + out.send.length === 0 && out.install === null && out.history === null) return;
        if (out.install !== null) {
          node.installs.push(out.install);
          const state = decodeState(out.install.data);
          node.log.baseLsn = out.install.lsn;
          node.log.baseState = state;
          node.log.entries = [];
          node.unpersisted = [];
          node.history = out.install.history;
          if (state.length !== out.install.lsn) throw new Error(`snapshot at ${out.install.lsn} holds ${state.length} records`);
        }
        if (out.history !== null) node.history = out.history;
        node.unpersisted.push(...out.persist);
        for (const s of out.send) this.queue.push({ from: node.id, to: s.to, msg: s.msg });
        if (out.install !== null) node.core.installed(out.install.lsn, this.now);
        if (!this.manualDisk && node.unpersisted.length > 0) {
          node.log.append(node.unpersisted);
          node.unpersisted = [];
          node.core.persisted(node.log.lastLsn(), this.now);
          node.core.applied(node.log.lastLsn(), this.now);
        }
      }
    }
  }
}

/** The messages of `type` in `envs`. */
export function ofType<T extends ReplMessage["type"]>(envs: readonly Envelope[], type: T): (Envelope & { msg: Extract<ReplMessage, { type: T }> })[] {
  return envs.filter((e): e is Envelope & { msg: Extract<ReplMessage, { type: T }> } => e.msg.type === type);
}

/** LSNs of the records carried by `records` messages in `envs`, in order. */
export function shippedLsns(envs: readonly Envelope[]): number[] {
  return ofType(envs, "records").flatMap((e) => e.msg.records.map((r) => r.lsn as number));
}
