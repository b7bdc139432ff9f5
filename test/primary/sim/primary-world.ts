/**
 * A simulated `primary`-mode group (DESIGN.md sections 4 and 5): real ReplicationNodes on the file
 * storage over simulated disks (crashes lose unsynced writes and tear tails), one simulated
 * network, one virtual clock, one seed. The world records what every node applies and every write
 * a client made, and checks after every event:
 *
 * - one record per (epoch, LSN): two nodes never hold different records under the same position;
 * - prefix: a node's log is always a prefix of the log of the primary of its last record's epoch;
 * - recovery: a restarted node's state is exactly the records its log holds, and it kept every
 *   record it had applied durably, except what it later discarded as divergent;
 * - durability: a write acknowledged at `{ replicas: n }` is held by each of those replicas at
 *   their promotion; a write acknowledged at `local` by a primary survives its restarts until a
 *   newer primary makes it discard it;
 * - fencing: no node acknowledges a write of an epoch older than one it has logged;
 * - sessions: a replica read that waited for a session's last write sees it (read-your-writes);
 *   a read that waited for the position of the session's previous read sees everything that read
 *   saw (monotonic reads, across nodes and failovers).
 */
import { SimDisk } from "../../../src/sim/sim-disk.js";
import { SimNetwork, type NetworkFaults } from "../../../src/sim/sim-network.js";
import { VirtualClock } from "../../../src/sim/virtual-clock.js";
import { isConcordError } from "../../../src/errors.js";
import { asDocId, asPeerId, type PeerId } from "../../../src/ids.js";
import { decodeOp } from "../../../src/kv/ops.js";
import { KvState } from "../../../src/kv/kv-state.js";
import { ReplicationNode } from "../../../src/primary/replication-node.js";
import type { SnapshotInstall } from "../../../src/primary/replication/core.js";
import type { PrimaryDurability, Epoch, Lsn, Position, ReplRecord } from "../../../src/primary/replication/types.js";
import { recover } from "../../../src/primary/wal.js";
import { seededRng, type Rng } from "../../../src/rng.js";
import { fileStorage } from "../../../src/storage/file-storage.js";
import type { Transport } from "../../../src/net/transport.js";

/** One slot of a log as the world saw it: which write, ordered in which epoch. */
interface Slot {
  readonly epoch: Epoch;
  readonly write: number;
}

export interface SimNode {
  readonly id: PeerId;
  readonly disk: SimDisk;
  node: ReplicationNode | null;
  transport: Transport | null;
  incarnation: number;
  /** The log as applied (durably) by this node, index = LSN - 1. */
  log: Slot[];
  /** Writes this node acknowledged as primary: must survive its restarts unless discarded. */
  readonly ackedHere: Map<number, Slot & { lsn: number }>;
  /** LSN from which this node's earlier records were discarded (a snapshot replaced them), or Infinity. */
  discardedFrom: number;
  /** A snapshot install handed to storage and not yet reported done (a crash may keep it or not). */
  installing: SnapshotInstall | null;
}

export interface WriteRecord {
  readonly id: number;
  readonly at: PeerId;
  readonly durability: PrimaryDurability;
  status: "pending" | "acked" | "failed";
  epoch?: Epoch;
  lsn?: Lsn;
  replicas?: readonly PeerId[];
  error?: string;
}

export class SimulationViolation extends Error {
  override readonly name = "SimulationViolation";
}

export interface PrimaryWorldOptions {
  readonly seed: number;
  readonly size: number;
  readonly faults?: Partial<NetworkFaults>;
  /** Compaction threshold of each node's WAL, in bytes (small: snapshots and backlogs get exercised). */
  readonly compactAfterBytes?: number;
  /** Backlog records kept for reconnecting replicas (small: full snapshots get exercised). */
  readonly backlogRecords?: number;
}

const key = (write: number): string => `w${write}`;

export class PrimaryWorld {
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((r) => setImmediate(r)) });
  readonly net: SimNetwork;
  readonly nodes: SimNode[];
  readonly writes: WriteRecord[] = [];
  /** Every (epoch, LSN) any node applied, and the write it holds. */
  readonly registry = new Map<string, number>();
  /** The primary of each epoch, as promotions made them. */
  readonly primaries = new Map<number, SimNode>();
  /** The log of each epoch's primary as it led that epoch (it may later discard it). */
  readonly epochLogs = new Map<number, Slot[]>();
  readonly events: string[] = [];
  readonly errors: unknown[] = [];
  readonly stats = { acked: 0, failed: 0, promotions: 0, crashes: 0, installs: 0, discarded: 0, sessionReads: 0, monotonicReads: 0, fencedWrites: 0 };
  readonly #rng: Rng;
  readonly #o: PrimaryWorldOptions;
  /** The session's newest read: where it was and what it saw. */
  #session: { readonly position: Position; readonly seen: ReadonlyMap<string, number> } | null = null;

  constructor(o: PrimaryWorldOptions) {
    this.#o = o;
    this.#rng = seededRng(o.seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.#rng.fork(), faults: o.faults ?? {} });
    this.nodes = Array.from({ length: o.size }, (_, i) => ({
      id: asPeerId(`n${i + 1}`),
      disk: new SimDisk({ rng: this.#rng.fork(), clock: this.clock, latencyMs: { min: 0.05, max: 1.5 } }),
      node: null,
      transport: null,
      incarnation: 0,
      log: [],
      ackedHere: new Map(),
      discardedFrom: Infinity,
      installing: null,
    }));
  }

  get rng(): Rng {
    return this.#rng;
  }

  note(line: string): void {
    this.events.push(`${this.clock.now().toFixed(1).padStart(8)} ${line}`);
    if (this.events.length > 200) this.events.splice(0, this.events.length - 200);
  }

  /** The first violation found (also thrown, but a throw inside a node's callback may be swallowed). */
  violation: SimulationViolation | null = null;

  fail(message: string): never {
    const v = new SimulationViolation(`${message}\n--- last events ---\n${this.events.join("\n")}`);
    this.violation ??= v;
    throw v;
  }

  /** Throws the first violation, if any (call after every step). */
  assertNoViolation(): void {
    if (this.violation !== null) throw this.violation;
  }

  /** Runs a check from inside a node callback: a violation is recorded, never thrown into the node. */
  #guard(check: () => void): void {
    try {
      check();
    } catch (e) {
      if (!(e instanceof SimulationViolation)) this.errors.push(e);
    }
  }

  /** Runs the virtual clock until `promise` settles (bounded), then returns its outcome. */
  async drive<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => (settled = true));
    tracked.catch(() => undefined);
    await this.clock.runUntil(() => settled, { maxMs });
    if (!settled) this.fail(`an operation did not settle within ${maxMs} virtual ms`);
    return tracked;
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  async start(): Promise<void> {
    this.primaries.set(1, this.nodes[0]!);
    this.epochLogs.set(1, []);
    for (const n of this.nodes) await this.open(n);
  }

  /** The newest epoch a promotion created. */
  maxEpoch(): number {
    return Math.max(...this.primaries.keys());
  }

  /** The primary of the newest epoch (clients that know of the promotion write there). */
  newestPrimary(): SimNode {
    return this.primaries.get(this.maxEpoch())!;
  }

  byId(id: PeerId): SimNode {
    return this.nodes.find((n) => n.id === id)!;
  }

  /** Opens (or reopens after a crash) `n` from its disk; checks what it recovered against what it had applied. */
  async open(n: SimNode): Promise<void> {
    if (n.node !== null) return;
    n.incarnation++;
    const persistence = fileStorage("/data", {
      fs: n.disk.mount(),
      clock: this.clock,
      fsync: { maxDelayMs: 2 },
      compactAfterBytes: this.#o.compactAfterBytes ?? 2_000,
    });
    const storage = await this.drive(persistence.open(asDocId("group")));
    this.#checkRecovered(n, recover(await this.drive(storage.load())));
    n.transport = this.net.join(n.id);
    const first = n.id === this.nodes[0]!.id ? "primary" : { replicaOf: this.nodes[0]!.id };
    n.node = await this.drive(
      ReplicationNode.open({
        id: n.id,
        storage,
        transport: n.transport,
        clock: this.clock,
        role: first,
        peers: this.nodes.map((m) => m.id),
        primary: { heartbeatMs: 20, maxLagMs: 200, backlogRecords: this.#o.backlogRecords ?? 50 },
        replica: { ackMs: 20, helloMs: 100, backlogRecords: this.#o.backlogRecords ?? 50 },
        observe: {
          record: (r) => this.#guard(() => this.#onRecord(n, r)),
          install: (i) => this.#guard(() => this.#onInstall(n, i)),
          installing: (i) => (n.installing = i),
        },
        log: (event, fields) => this.note(`${n.id} ${event} ${JSON.stringify(fields)}`),
      }),
    );
    this.note(`${n.id} open (incarnation ${n.incarnation}) as ${n.node.role} at LSN ${n.node.readInfo().lsn}`);
  }

  /** Power cut: unsynced writes are lost (tails may tear), connections drop. */
  crash(n: SimNode): void {
    if (n.node === null) return;
    n.disk.crash();
    n.transport!.close();
    n.node = null;
    n.transport = null;
    this.stats.crashes++;
    this.note(`${n.id} crash`);
  }

  /** Clients' writes: `set w<id> = id` at node `n`, tracked until they settle. */
  write(n: SimNode, durability: PrimaryDurability): WriteRecord | null {
    if (n.node === null) return null;
    const id = this.writes.length + 1;
    const w: WriteRecord = { id, at: n.id, durability, status: "pending" };
    this.writes.push(w);
    const node = n.node;
    node.write({ kind: "set", key: key(id), value: id }, durability).then(
      (receipt) => {
        w.status = "acked";
        w.epoch = receipt.epoch;
        w.lsn = receipt.lsn;
        w.replicas = receipt.replicas;
        this.stats.acked++;
        this.#guard(() => this.#checkAck(n, node, w));
      },
      (e: unknown) => {
        w.status = "failed";
        w.error = isConcordError(e) ? e.code : String(e);
        this.stats.failed++;
        if (isConcordError(e, "Fenced")) this.stats.fencedWrites++;
        if (!isConcordError(e)) this.errors.push(e);
      },
    );
    return w;
  }

  /** The operator promotes replica `n`. Checks that it holds every write acked at `{ replicas }` with it among the replicas. */
  async promote(n: SimNode): Promise<boolean> {
    const node = n.node;
    // The operator promotes only a replica that has seen the newest epoch (as a sentinel quorum
    // would): two replicas promoted blind to each other would both pick the same epoch number.
    if (node === null || node.role !== "replica" || node.status().epoch !== this.maxEpoch()) return false;
    let result;
    try {
      result = await this.drive(node.promote());
    } catch (e) {
      if (isConcordError(e)) {
        this.note(`${n.id} promotion refused: ${e.message}`);
        return false;
      }
      throw e;
    }
    this.stats.promotions++;
    this.primaries.set(result.epoch, n);
    if (n.log.length !== result.lsn) this.fail(`${n.id} was promoted at LSN ${result.lsn} but applied ${n.log.length} records`);
    this.epochLogs.set(result.epoch, n.log.slice(0, result.lsn));
    this.note(`${n.id} promoted to epoch ${result.epoch} at LSN ${result.lsn}`);
    for (const w of this.writes) {
      if (w.status !== "acked" || w.replicas === undefined || !w.replicas.includes(n.id)) continue;
      const slot = n.log[w.lsn! - 1];
      if (slot?.write !== w.id && w.lsn! < n.discardedFrom) {
        this.fail(`durability: write ${w.id} was acked at ${JSON.stringify(w.durability)} with ${n.id} among [${w.replicas.join(",")}], but ${n.id} was promoted without it at LSN ${w.lsn}`);
      }
    }
    return true;
  }

  /**
   * A monotonic read at `n`: waits until `n` holds the position of the session's previous read,
   * then must see every value that read saw (keys are written once, so none may vanish), and
   * becomes the session's newest read.
   */
  async monotonicRead(n: SimNode, timeoutMs: number): Promise<void> {
    const node = n.node;
    if (node === null) return;
    const last = this.#session;
    if (last !== null) {
      try {
        await this.drive(node.waitFor(last.position, timeoutMs), timeoutMs + 1_000);
      } catch (e) {
        if (!isConcordError(e)) throw e;
        // Past that LSN with another record there: what the session read was discarded in a
        // failover, and its reads can only time out; the client starts a new session.
        if (n.node === node && node.readInfo().lsn >= last.position.lsn) this.#session = null;
        return;
      }
      if (n.node !== node) return;
      for (const [k, v] of last.seen) {
        if (node.state.get(k) !== v) {
          this.fail(`monotonic reads: ${n.id} holds ${JSON.stringify(last.position)}, which an earlier read of this session saw with ${k} = ${v}, but reads ${JSON.stringify(node.state.get(k))}`);
        }
      }
    }
    this.stats.monotonicReads++;
    this.#session = { position: node.readInfo().position, seen: new Map(node.state.entries() as [string, number][]) };
  }

  /** A session read at `n` after the session's write `w`: waits for its LSN, then must see it. */
  async sessionRead(n: SimNode, w: WriteRecord, timeoutMs: number): Promise<void> {
    const node = n.node;
    if (node === null || w.status !== "acked") return;
    const epochAtStart = node.readInfo().epoch;
    try {
      await this.drive(node.waitFor({ epoch: w.epoch!, lsn: w.lsn! }, timeoutMs), timeoutMs + 1_000);
    } catch (e) {
      if (isConcordError(e)) return;
      throw e;
    }
    if (n.node !== node) return;
    this.stats.sessionReads++;
    // A write a newer epoch discarded can't be read back; any other must be.
    const slot = n.log[w.lsn! - 1];
    const same = slot !== undefined && slot.epoch === w.epoch && slot.write === w.id;
    if (same && node.state.get(key(w.id)) !== w.id) {
      this.fail(`read-your-writes: ${n.id} reached LSN ${w.lsn} holding write ${w.id} but reads ${JSON.stringify(node.state.get(key(w.id)))}`);
    }
    if (!same && node.readInfo().epoch === epochAtStart && w.epoch === epochAtStart && n.discardedFrom > w.lsn!) {
      this.fail(`read-your-writes: ${n.id} reached LSN ${w.lsn} in epoch ${epochAtStart} without write ${w.id}`);
    }
  }

  /** Every node alive, logs equal to the primary's, states equal: the group converged. */
  converged(): boolean {
    const primaries = this.nodes.filter((n) => n.node?.role === "primary" && !n.node.status().fenced);
    if (primaries.length !== 1 || this.nodes.some((n) => n.node === null)) return false;
    const p = primaries[0]!;
    const want = JSON.stringify(p.log);
    return this.nodes.every((n) => JSON.stringify(n.log) === want && n.node!.readInfo().lsn === p.node!.readInfo().lsn);
  }

  // --- checks -------------------------------------------------------------------------------

  /** Checks and records that `n` holds `r`: one record per position, and the epoch log of its primary. */
  #register(n: SimNode, r: ReplRecord): Slot {
    const op = decodeOp(r.data);
    if (op.kind !== "set" || typeof op.value !== "number") this.fail(`${n.id} holds an op the world never wrote: ${JSON.stringify(op)}`);
    const slot: Slot = { epoch: r.epoch, write: op.value };
    const pos = `${r.epoch}:${r.lsn}`;
    const held = this.registry.get(pos);
    if (held !== undefined && held !== slot.write) this.fail(`one record per position: ${n.id} holds write ${slot.write} at ${pos}, which holds write ${held} elsewhere`);
    this.registry.set(pos, slot.write);
    if (this.primaries.get(r.epoch) === n && n.node?.role !== "replica") {
      const log = this.epochLogs.get(r.epoch)!;
      if (r.lsn > log.length + 1) this.fail(`the primary ${n.id} of epoch ${r.epoch} holds LSN ${r.lsn} after ${log.length}`);
      log[r.lsn - 1] = slot;
    }
    return slot;
  }

  #onRecord(n: SimNode, r: ReplRecord): void {
    const slot = this.#register(n, r);
    if (r.lsn !== n.log.length + 1) this.fail(`${n.id} applied LSN ${r.lsn} after LSN ${n.log.length}`);
    n.log.push(slot);
    this.#checkPrefix(n);
  }

  #onInstall(n: SimNode, i: SnapshotInstall): void {
    this.#adoptInstall(n, i);
    this.#checkState(n, KvState.decode(i.data), `snapshot install at LSN ${i.lsn}`);
    this.note(`${n.id} installed snapshot epoch ${i.epoch} LSN ${i.lsn} discarding ${i.discarded}`);
  }

  /** `n`'s log becomes epoch `i.epoch`'s up to `i.lsn`; checks the discarded count. */
  #adoptInstall(n: SimNode, i: SnapshotInstall): void {
    n.installing = null;
    this.stats.installs++;
    this.stats.discarded += i.discarded;
    const source = this.epochLogs.get(i.epoch);
    if (source === undefined) this.fail(`${n.id} installed a snapshot of epoch ${i.epoch}, which no promotion made`);
    let agree = 0;
    while (agree < Math.min(n.log.length, source.length) && JSON.stringify(n.log[agree]) === JSON.stringify(source[agree])) agree++;
    if (i.discarded !== n.log.length - agree) {
      this.fail(`${n.id} reports ${i.discarded} discarded records; it held ${n.log.length - agree} beyond its common prefix with epoch ${i.epoch}`);
    }
    if (i.discarded > 0) n.discardedFrom = Math.min(n.discardedFrom, agree + 1);
    if (source.length < i.lsn) this.fail(`${n.id} installed a snapshot at LSN ${i.lsn} but epoch ${i.epoch}'s log has only ${source.length}`);
    n.log = source.slice(0, i.lsn);
  }

  /** A node's log is a prefix of the log of the primary of its last record's epoch. */
  #checkPrefix(n: SimNode): void {
    const last = n.log[n.log.length - 1];
    if (last === undefined) return;
    const log = this.epochLogs.get(last.epoch);
    if (log === undefined) this.fail(`${n.id} holds a record of epoch ${last.epoch}, which no promotion made`);
    if (n.log.length > log.length) this.fail(`prefix: ${n.id} holds ${n.log.length} records, the primary of epoch ${last.epoch} only ${log.length}`);
    for (let i = 0; i < n.log.length; i++) {
      const mine = n.log[i]!;
      const theirs = log[i]!;
      if (mine.epoch !== theirs.epoch || mine.write !== theirs.write) {
        this.fail(`prefix: ${n.id} holds ${JSON.stringify(mine)} at LSN ${i + 1}, epoch ${last.epoch}'s primary held ${JSON.stringify(theirs)}`);
      }
    }
  }

  #checkState(n: SimNode, state: KvState, what: string): void {
    const want = n.log.map((s) => key(s.write)).sort();
    const got = state.entries().map(([k]) => k).sort();
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      this.fail(`${n.id} ${what}: its state holds [${got.join(",")}] but its log holds [${want.join(",")}]`);
    }
  }

  #checkRecovered(n: SimNode, rec: ReturnType<typeof recover>): void {
    // Records after the snapshot are known exactly; what the snapshot covers must match the state.
    const base = rec.lastLsn - rec.records.length;
    // An install in flight at the crash may have become durable without being reported.
    if (n.installing !== null && base === n.installing.lsn && rec.history.length > 0) this.#adoptInstall(n, n.installing);
    n.installing = null;
    if (base > n.log.length) this.fail(`${n.id} recovered a snapshot at LSN ${base} beyond the ${n.log.length} records it ever applied`);
    const log = n.log.slice(0, base);
    for (const r of rec.records) log.push(this.#register(n, r));
    // Durable records it had applied must all be back (a torn tail may only ADD unsynced ones).
    for (let i = 0; i < Math.min(n.log.length, log.length); i++) {
      if (JSON.stringify(n.log[i]) !== JSON.stringify(log[i])) {
        this.fail(`recovery: ${n.id} had ${JSON.stringify(n.log[i])} at LSN ${i + 1}, recovered ${JSON.stringify(log[i])}`);
      }
    }
    if (log.length < n.log.length) this.fail(`recovery: ${n.id} applied ${n.log.length} records durably but recovered ${log.length}`);
    n.log = log;
    this.#checkState(n, rec.state, "after recovery");
    for (const [id, slot] of n.ackedHere) {
      if (slot.lsn >= n.discardedFrom) continue;
      const held = log[slot.lsn - 1];
      if (held?.write !== id || held.epoch !== slot.epoch) this.fail(`durability: ${n.id} acked write ${id} at LSN ${slot.lsn} (local) but recovered without it`);
    }
    this.#checkPrefix(n);
  }

  #checkAck(n: SimNode, node: ReplicationNode, w: WriteRecord): void {
    const st = node.status();
    if (node.role !== "primary" || st.fenced || st.epoch !== w.epoch) {
      this.fail(`fencing: ${n.id} acked write ${w.id} in epoch ${w.epoch} while ${node.role}${st.fenced ? " (fenced)" : ""} in epoch ${st.epoch}`);
    }
    const slot = n.log[w.lsn! - 1];
    if (slot?.write !== w.id || slot.epoch !== w.epoch) this.fail(`${n.id} acked write ${w.id} at LSN ${w.lsn} but its log holds ${JSON.stringify(slot)} there`);
    n.ackedHere.set(w.id, { epoch: w.epoch!, write: w.id, lsn: w.lsn! });
    for (const id of w.replicas ?? []) {
      const r = this.byId(id);
      if (r.node !== null && r.discardedFrom > w.lsn! && r.log[w.lsn! - 1]?.write !== w.id) {
        // The replica acked it durably: its log holds it (after a crash too: see #checkRecovered).
        this.fail(`durability: write ${w.id} acked with ${id} among its replicas, but ${id}'s log holds ${JSON.stringify(r.log[w.lsn! - 1])} at LSN ${w.lsn}`);
      }
    }
    this.note(`${n.id} acked write ${w.id} at ${w.epoch}:${w.lsn} ${JSON.stringify(w.durability)} replicas [${(w.replicas ?? []).join(",")}]`);
  }
}
